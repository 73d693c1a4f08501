-- The audit trail (issue 16): append-only, each record chained by the hash of the
-- previous one (gis/security/audit_chain.py). The sequence is the high-water mark
-- that reveals deleted trailing records.
CREATE SEQUENCE IF NOT EXISTS onemap_audit_seq;
CREATE TABLE IF NOT EXISTS onemap_audit (
    seq bigint PRIMARY KEY,
    ts text NOT NULL,
    role text NOT NULL,
    key_id text,
    holder text,
    layer text NOT NULL,
    operation text NOT NULL,
    rows bigint NOT NULL,
    params text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS onemap_audit_ts ON onemap_audit (ts);
CREATE OR REPLACE FUNCTION onemap_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS onemap_audit_no_change ON onemap_audit;
CREATE TRIGGER onemap_audit_no_change BEFORE UPDATE OR DELETE ON onemap_audit
    FOR EACH ROW EXECUTE FUNCTION onemap_audit_append_only();
DROP TRIGGER IF EXISTS onemap_audit_no_truncate ON onemap_audit;
CREATE TRIGGER onemap_audit_no_truncate BEFORE TRUNCATE ON onemap_audit
    FOR EACH STATEMENT EXECUTE FUNCTION onemap_audit_append_only();
