-- Notion's subscription verification. When a webhook subscription is created in the Notion
-- integration's settings, Notion posts one unsigned `{"verification_token": "secret_…"}` to the
-- app-level URL (POST /webhooks/notion); a person pastes that token into Notion to activate the
-- subscription, and Notion then signs every delivery with it (X-Notion-Signature). The daemon
-- keeps the latest token here, sealed by its vault (record '1', field
-- 'notion_verification_token'), re-encrypted by key rotation like every sealed column. Nothing
-- else of the request is stored. Released migrations are never edited; add a new numbered file.

CREATE TABLE mcp.notion_verification (
    -- One row: the app-level URL's latest token.
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    token_ct    bytea NOT NULL,
    key_id      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notion_verification_key ON mcp.notion_verification (key_id);
