DROP TABLE saved_views;
DROP TABLE custom_fields;
DROP TABLE customers;
