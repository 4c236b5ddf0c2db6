/*  cart_unit - the cart's rules that need no server: the province taxes
    in integer cents, the lines, the stored shape, the id format. */
#include "testrunner.h"

#include "cart_model.h"
#include "cart_verbs.h"

#include <assert.h>
#include <stdio.h>

static void
test_cart_ids (bool verbose)
{
    assert (cart_verbs_valid_id ("0123456789abcdef0123456789abcdef"));
    assert (!cart_verbs_valid_id ("0123456789ABCDEF0123456789abcdef"));
    assert (!cart_verbs_valid_id ("0123456789abcdef0123456789abcde"));
    assert (!cart_verbs_valid_id ("0123456789abcdef0123456789abcdeg"));
    assert (!cart_verbs_valid_id (""));
    assert (!cart_verbs_valid_id (NULL));
}

static const testrunner_case_t s_cases [] = {
    { "cart_model", cart_model_test },
    { "cart_ids", test_cart_ids },
    { NULL, NULL }
};

int
main (int argc, char **argv)
{
    return testrunner_main (argc, argv, s_cases, 30);
}
