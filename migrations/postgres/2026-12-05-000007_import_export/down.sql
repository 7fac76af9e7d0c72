DROP TABLE record_merges;
DROP TABLE import_items;
DROP TABLE import_batches;
