DROP TRIGGER opportunity_sums_au ON opportunities;
DROP TRIGGER opportunity_sums_ai ON opportunities;
DROP FUNCTION opportunity_sums_keep();
DROP TABLE opportunity_sums;
