--  Comptoir customer context: demo data.
--
--  Deliberately empty of accounts. Every account needs a password, and a
--  password written here would be a secret in the code for ever. The demo
--  customers and staff accounts are made by
--      actors/customer/comptoir-customer --demo-accounts var/demo-accounts.txt
--  (run by run.sh and scripts/testenv.sh once the system is ready), which
--  draws random passwords, writes them to that file (mode 0600) and prints
--  them once.
SELECT 1 WHERE false;
