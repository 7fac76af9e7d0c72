DROP INDEX customers_owner_basis;
