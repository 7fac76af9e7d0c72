-- The pipeline board's sums, kept by a trigger on every write to
-- opportunities (API, transfers, imports, demo data alike): one row per
-- pipeline, stage, status, currency and owner (0: none), so a board reads a
-- few hundred rows instead of every opportunity.
CREATE TABLE opportunity_sums (
    pipeline_id       BIGINT NOT NULL,
    stage_id          BIGINT NOT NULL,
    status            TEXT NOT NULL,
    currency          TEXT NOT NULL,
    owner_id          BIGINT NOT NULL,
    n                 BIGINT NOT NULL DEFAULT 0,
    amount            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (pipeline_id, stage_id, status, currency, owner_id)
);
CREATE INDEX opportunity_sums_owner ON opportunity_sums (owner_id, pipeline_id);

INSERT INTO opportunity_sums (pipeline_id, stage_id, status, currency, owner_id, n, amount)
SELECT pipeline_id, stage_id, status, currency, COALESCE(owner_id, 0), COUNT(*), COALESCE(SUM(amount), 0)
FROM opportunities GROUP BY pipeline_id, stage_id, status, currency, COALESCE(owner_id, 0);

CREATE FUNCTION opportunity_sums_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE opportunity_sums SET n = n - 1, amount = amount - COALESCE(OLD.amount, 0)
        WHERE pipeline_id = OLD.pipeline_id AND stage_id = OLD.stage_id AND status = OLD.status
          AND currency = OLD.currency AND owner_id = COALESCE(OLD.owner_id, 0);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO opportunity_sums (pipeline_id, stage_id, status, currency, owner_id, n, amount)
        VALUES (NEW.pipeline_id, NEW.stage_id, NEW.status, NEW.currency, COALESCE(NEW.owner_id, 0), 1, COALESCE(NEW.amount, 0))
        ON CONFLICT (pipeline_id, stage_id, status, currency, owner_id)
        DO UPDATE SET n = opportunity_sums.n + 1, amount = opportunity_sums.amount + EXCLUDED.amount;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER opportunity_sums_ai AFTER INSERT OR DELETE ON opportunities
    FOR EACH ROW EXECUTE FUNCTION opportunity_sums_keep();
CREATE TRIGGER opportunity_sums_au AFTER UPDATE OF pipeline_id, stage_id, status, currency, owner_id, amount ON opportunities
    FOR EACH ROW EXECUTE FUNCTION opportunity_sums_keep();
