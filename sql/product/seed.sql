--  Comptoir product context: demo catalog of a Québec home and kitchen retailer.
--  Idempotent: run it as often as you like (ON CONFLICT DO NOTHING), after the
--  migrations. Seed SKUs have 4 digits (CAF-1001); generated ones have 6.

INSERT INTO categories (name, description, sku_prefix) VALUES
    ('Café et thé', 'Cafetières, moulins, grains torréfiés au Québec et thés en vrac.', 'CAF'),
    ('Cuisine', 'Ustensiles, casseroles et outils du quotidien.', 'CUI'),
    ('Arts de la table', 'Vaisselle, verrerie et tasses pour recevoir.', 'TAB'),
    ('Maison', 'Rangement, éclairage et petits meubles.', 'MAI'),
    ('Linge de maison', 'Jetés, nappes et linges en lin et en coton.', 'LIN'),
    ('Plein air', 'Tout pour le chalet, le camping et la terrasse.', 'PLA'),
    ('Épicerie fine', 'Produits de l''érable, confitures et douceurs d''ici.', 'EPI'),
    ('Papeterie et cadeaux', 'Carnets, cartes et idées-cadeaux.', 'PAP')
ON CONFLICT DO NOTHING;

--  Barcodes are 0628 + the category's number and the SKU's (8 digits) +
--  the EAN-13 check digit; costs are 40 to 60 % of the price. A catalog
--  seeded before barcodes existed gets them once: the UPDATE fills only
--  seed products that have neither a barcode nor a cost yet (a statement
--  does not see the rows its own INSERT adds, so new rows come from the
--  INSERT and old ones from the UPDATE).
WITH seed (category, sku, name, description, price_cents, alert_threshold, barcode, cost_cents) AS (
  VALUES
    ('Café et thé', 'CAF-1001', 'Cafetière à piston 1 L', 'Cafetière française en verre borosilicaté et acier inoxydable, 8 tasses.', 4999, 5, '0628000110019', 2000),
    ('Café et thé', 'CAF-1002', 'Moulin à café manuel en céramique', 'Meules coniques en céramique, mouture réglable de l''espresso au piston.', 5995, 3, '0628000110026', 2878),
    ('Café et thé', 'CAF-1003', 'Café en grains Mont-Royal 340 g', 'Torréfaction moyenne à Montréal, notes de chocolat noir et de noisette.', 1699, 20, '0628000110033', 951),
    ('Café et thé', 'CAF-1004', 'Café en grains Espresso Saint-Laurent 1 kg', 'Mélange corsé pour espresso, torréfié à Québec.', 3899, 10, '0628000110040', 1677),
    ('Café et thé', 'CAF-1005', 'Cafetière italienne 6 tasses', 'Moka en aluminium, poignée résistante à la chaleur.', 3499, 5, '0628000110057', 1784),
    ('Café et thé', 'CAF-1006', 'Bouilloire col de cygne 1 L', 'Bec verseur précis pour le café filtre, thermomètre intégré.', 7999, 4, '0628000110064', 4719),
    ('Café et thé', 'CAF-1007', 'Thé vert Sencha en vrac 100 g', 'Feuilles entières, infusion douce et herbacée.', 1295, 15, '0628000110071', 596),
    ('Café et thé', 'CAF-1008', 'Infuseur à thé en acier inoxydable', 'Panier à mailles fines pour tasses et théières.', 1499, 10, '0628000110088', 809),
    ('Café et thé', 'CAF-1009', 'Filtres à café en papier no 4 (100)', 'Filtres non blanchis compostables.', 599, 30, '0628000110095', 246),
    ('Cuisine', 'CUI-1001', 'Poêle en fonte 26 cm', 'Fonte pré-culottée, pour la cuisinière, le four et le feu de camp.', 5499, 5, '0628000210016', 2585),
    ('Cuisine', 'CUI-1002', 'Casserole inox 2 L avec couvercle', 'Fond triple épaisseur compatible induction.', 6999, 4, '0628000210023', 3849),
    ('Cuisine', 'CUI-1003', 'Couteau de chef 20 cm', 'Lame en acier allemand forgé, manche ergonomique.', 8999, 3, '0628000210030', 3780),
    ('Cuisine', 'CUI-1004', 'Planche à découper en érable', 'Érable massif du Québec, 45 x 30 cm, finie à l''huile minérale.', 5999, 5, '0628000210047', 3000),
    ('Cuisine', 'CUI-1005', 'Ensemble de bols à mélanger (3)', 'Bols en acier inoxydable emboîtables avec fond antidérapant.', 3999, 5, '0628000210054', 2319),
    ('Cuisine', 'CUI-1006', 'Spatule en silicone', 'Résiste à 260 °C, ne raye pas les poêles antiadhésives.', 1299, 15, '0628000210061', 585),
    ('Cuisine', 'CUI-1007', 'Rouleau à pâtisserie en bois', 'Hêtre massif, 45 cm, pour tartes et tourtières.', 2499, 5, '0628000210078', 1324),
    ('Cuisine', 'CUI-1008', 'Balance de cuisine numérique', 'Précision au gramme, jusqu''à 5 kg, fonction tare.', 2999, 5, '0628000210085', 1200),
    ('Arts de la table', 'TAB-1001', 'Tasse à café en grès 350 ml', 'Grès émaillé fait à la main, bleu fleuve.', 2200, 12, '0628000310013', 990),
    ('Arts de la table', 'TAB-1002', 'Mug isotherme Voyageur 470 ml', 'Double paroi en acier inoxydable, garde chaud 6 heures.', 3499, 10, '0628000310020', 1854),
    ('Arts de la table', 'TAB-1003', 'Ensemble de 4 mugs en céramique', 'Mugs empilables de 400 ml, couleurs assorties.', 4499, 6, '0628000310037', 1800),
    ('Arts de la table', 'TAB-1004', 'Assiettes plates en grès (4)', 'Assiettes de 27 cm, passent au lave-vaisselle.', 5999, 5, '0628000310044', 2880),
    ('Arts de la table', 'TAB-1005', 'Verres à vin Bordeaux (6)', 'Cristal sans plomb, 550 ml.', 6499, 4, '0628000310051', 3639),
    ('Arts de la table', 'TAB-1006', 'Théière en fonte 900 ml', 'Théière japonaise émaillée avec infuseur.', 6999, 3, '0628000310068', 3010),
    ('Arts de la table', 'TAB-1007', 'Beurrier en céramique avec couvercle', 'Garde le beurre tendre à la température de la pièce.', 2499, 6, '0628000310075', 1274),
    ('Maison', 'MAI-1001', 'Lampe de table en laiton', 'Abat-jour en lin, ampoule DEL incluse.', 12999, 2, '0628000410010', 7669),
    ('Maison', 'MAI-1002', 'Panier de rangement en jonc de mer', 'Tressé à la main, 40 cm, poignées en cuir.', 3999, 5, '0628000410027', 1840),
    ('Maison', 'MAI-1003', 'Bougie parfumée Sapin baumier', 'Cire de soya coulée à Sherbrooke, 40 heures.', 2800, 10, '0628000410034', 1512),
    ('Maison', 'MAI-1004', 'Tablette murale en chêne', 'Chêne massif 60 cm avec supports noirs.', 4999, 4, '0628000410041', 2050),
    ('Maison', 'MAI-1005', 'Cadre photo en bois 8 x 10', 'Frêne naturel, verre antireflet.', 2499, 6, '0628000410058', 1225),
    ('Maison', 'MAI-1006', 'Horloge murale silencieuse', 'Mécanisme sans tic-tac, cadran de 30 cm.', 4599, 3, '0628000410065', 2621),
    ('Maison', 'MAI-1007', 'Miroir rond 50 cm', 'Cadre en métal noir mat, pour l''entrée ou la salle de bain.', 8999, 2, '0628000410072', 3960),
    ('Linge de maison', 'LIN-1001', 'Jeté en laine Chalet', 'Laine mérinos tissée, 130 x 180 cm, motif à carreaux.', 9999, 3, '0628000510017', 4700),
    ('Linge de maison', 'LIN-1002', 'Nappe en lin lavé 150 x 250 cm', 'Lin européen lavé à la pierre, couleur avoine.', 8999, 3, '0628000510024', 4949),
    ('Linge de maison', 'LIN-1003', 'Linges à vaisselle en coton (3)', 'Coton gaufré très absorbant.', 1999, 10, '0628000510031', 840),
    ('Linge de maison', 'LIN-1004', 'Tablier de cuisine en denim', 'Poche avant, sangles ajustables.', 3499, 5, '0628000510048', 1750),
    ('Linge de maison', 'LIN-1005', 'Coussin décoratif en velours', 'Housse amovible 45 x 45 cm, garnissage en plumes.', 3999, 5, '0628000510055', 2319),
    ('Linge de maison', 'LIN-1006', 'Gants de cuisinier (paire)', 'Coton matelassé, résistent à la chaleur du four.', 2299, 8, '0628000510062', 1035),
    ('Plein air', 'PLA-1001', 'Glacière rigide 25 L', 'Garde la glace trois jours, pour le chalet et le camping.', 11999, 3, '0628000610014', 7199),
    ('Plein air', 'PLA-1002', 'Bouteille isotherme 750 ml', 'Acier inoxydable, garde froid 24 heures.', 3299, 10, '0628000610021', 1551),
    ('Plein air', 'PLA-1003', 'Ensemble de vaisselle de camping', 'Assiettes, bols et tasses en émail pour quatre.', 5999, 4, '0628000610038', 3299),
    ('Plein air', 'PLA-1004', 'Lanterne DEL rechargeable', 'Recharge USB-C, 300 lumens, 20 heures d''autonomie.', 4499, 5, '0628000610045', 1890),
    ('Plein air', 'PLA-1005', 'Chaise Adirondack pliante', 'Cèdre rouge de l''Ouest, assemblée au Québec.', 24999, 2, '0628000610052', 12500),
    ('Plein air', 'PLA-1006', 'Gril de table au charbon', 'Gril portatif en acier émaillé, 35 cm.', 7999, 3, '0628000610069', 4639),
    ('Plein air', 'PLA-1007', 'Percolateur de camping 9 tasses', 'Café de campement en acier inoxydable, sur le feu ou le réchaud.', 4299, 4, '0628000610076', 1935),
    ('Épicerie fine', 'EPI-1001', 'Sirop d''érable ambré 540 ml', 'Goût riche, récolte de la Beauce.', 1499, 25, '0628000710011', 899),
    ('Épicerie fine', 'EPI-1002', 'Beurre d''érable 250 g', 'Cent pour cent sirop d''érable, à tartiner.', 999, 20, '0628000710028', 470),
    ('Épicerie fine', 'EPI-1003', 'Confiture de bleuets du Lac-Saint-Jean', 'Bleuets sauvages, peu sucrée, 250 ml.', 899, 20, '0628000710035', 494),
    ('Épicerie fine', 'EPI-1004', 'Caramel au sel de mer', 'Caramel onctueux fait à Québec, 200 ml.', 1199, 15, '0628000710042', 504),
    ('Épicerie fine', 'EPI-1005', 'Chocolat noir 70 % aux camerises', 'Tablette de 100 g, cacao équitable.', 699, 25, '0628000710059', 350),
    ('Épicerie fine', 'EPI-1006', 'Thé du Labrador en vrac 50 g', 'Cueilli à la main sur la Côte-Nord.', 1395, 10, '0628000710066', 809),
    ('Papeterie et cadeaux', 'PAP-1001', 'Carnet ligné couverture toilée', 'Papier 100 g/m², 192 pages, reliure cousue.', 2499, 10, '0628000810018', 1025),
    ('Papeterie et cadeaux', 'PAP-1002', 'Cartes de souhaits assorties (6)', 'Illustrations d''artistes québécois, enveloppes incluses.', 1899, 10, '0628000810025', 931),
    ('Papeterie et cadeaux', 'PAP-1003', 'Carte-cadeau Comptoir 50 $', 'Valable en magasin et en ligne.', 5000, 0, '0628000810032', 2850),
    ('Papeterie et cadeaux', 'PAP-1004', 'Coffret cadeau Matin au chalet', 'Café Mont-Royal, tasse en grès et sirop d''érable.', 5499, 5, '0628000810049', 2420),
    ('Papeterie et cadeaux', 'PAP-1005', 'Calendrier mural Paysages du Québec', 'Douze photographies de la Gaspésie à l''Abitibi.', 1999, 8, '0628000810056', 1039),
    ('Papeterie et cadeaux', 'PAP-1006', 'Stylo plume en érable', 'Corps en érable tourné, plume moyenne.', 4499, 3, '0628000810063', 2699)
),
inserted AS (
  INSERT INTO products (sku, name, description, price_cents, category_id, alert_threshold,
                        barcode, cost_cents)
  SELECT v.sku, v.name, v.description, v.price_cents, c.id, v.alert_threshold,
         v.barcode, v.cost_cents
    FROM seed v JOIN categories c ON c.name = v.category
  ON CONFLICT DO NOTHING)
UPDATE products p SET barcode = v.barcode, cost_cents = v.cost_cents, updated_at = now ()
  FROM seed v
 WHERE p.sku = v.sku AND p.barcode IS NULL AND p.cost_cents = 0
   AND NOT EXISTS (SELECT 1 FROM products q WHERE q.barcode = v.barcode);
