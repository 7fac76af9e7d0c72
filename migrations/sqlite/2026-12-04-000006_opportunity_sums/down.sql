DROP TRIGGER opportunity_sums_au;
DROP TRIGGER opportunity_sums_ad;
DROP TRIGGER opportunity_sums_ai;
DROP TABLE opportunity_sums;
