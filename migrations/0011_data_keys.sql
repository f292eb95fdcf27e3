-- Envelope encryption: data keys, made by the daemons, wrapped by the operator's keys. Released
-- migrations are never edited; add a new numbered file.
--
-- Secrets are sealed with the newest data key that is active (`active_from` passed: a grace
-- period after its creation, longer than the daemons' reload of this table, so that no daemon
-- meets a secret sealed with a data key it has not loaded). A data key is stored only wrapped:
-- XChaCha20-Poly1305 under the operator key `wrapped_by`, bound to its id. When the newest is
-- older than `[vault] rotate_after`, one daemon (an advisory lock) makes the next; every daemon
-- then re-encrypts the secrets in short batches, and an old data key that no secret uses any
-- more is deleted. Secrets sealed directly with an operator key (before this migration) stay
-- readable and move to the data key the same way.

CREATE TABLE mcp.vault_data_keys (
    id          text PRIMARY KEY CHECK (id ~ '^dk-'),
    wrapped_by  text NOT NULL,
    wrapped     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    active_from timestamptz NOT NULL
);
