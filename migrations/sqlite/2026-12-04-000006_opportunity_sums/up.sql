-- The pipeline board's sums, kept by triggers on every write to
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

CREATE TRIGGER opportunity_sums_ai AFTER INSERT ON opportunities BEGIN
    INSERT INTO opportunity_sums (pipeline_id, stage_id, status, currency, owner_id, n, amount)
    VALUES (new.pipeline_id, new.stage_id, new.status, new.currency, COALESCE(new.owner_id, 0), 1, COALESCE(new.amount, 0))
    ON CONFLICT (pipeline_id, stage_id, status, currency, owner_id)
    DO UPDATE SET n = n + 1, amount = amount + excluded.amount;
END;
CREATE TRIGGER opportunity_sums_ad AFTER DELETE ON opportunities BEGIN
    UPDATE opportunity_sums SET n = n - 1, amount = amount - COALESCE(old.amount, 0)
    WHERE pipeline_id = old.pipeline_id AND stage_id = old.stage_id AND status = old.status
      AND currency = old.currency AND owner_id = COALESCE(old.owner_id, 0);
END;
CREATE TRIGGER opportunity_sums_au AFTER UPDATE OF pipeline_id, stage_id, status, currency, owner_id, amount ON opportunities BEGIN
    UPDATE opportunity_sums SET n = n - 1, amount = amount - COALESCE(old.amount, 0)
    WHERE pipeline_id = old.pipeline_id AND stage_id = old.stage_id AND status = old.status
      AND currency = old.currency AND owner_id = COALESCE(old.owner_id, 0);
    INSERT INTO opportunity_sums (pipeline_id, stage_id, status, currency, owner_id, n, amount)
    VALUES (new.pipeline_id, new.stage_id, new.status, new.currency, COALESCE(new.owner_id, 0), 1, COALESCE(new.amount, 0))
    ON CONFLICT (pipeline_id, stage_id, status, currency, owner_id)
    DO UPDATE SET n = n + 1, amount = amount + excluded.amount;
END;
