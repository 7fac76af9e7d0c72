-- The pool rules count from when the owner got the customer (owner_since,
-- or created_at before any transfer): this index finds an owner's
-- customers whose count started before a date without reading the rest.
CREATE INDEX customers_owner_basis ON customers (owner_id, COALESCE(owner_since, created_at));
