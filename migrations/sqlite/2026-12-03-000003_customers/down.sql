DROP TRIGGER customers_search_au;
DROP TRIGGER customers_search_ad;
DROP TRIGGER customers_search_ai;
DROP TABLE fts_customers_cjk;
DROP TABLE fts_customers_tri;
DROP TABLE saved_views;
DROP TABLE custom_fields;
DROP TABLE customers;
