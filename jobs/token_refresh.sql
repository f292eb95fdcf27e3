-- Refresh one integration's token now (the hourly sweep does this 24 h before expiry).
SELECT mcp.enqueue_job('token_refresh',
                       jsonb_build_object('integration_id', t.integration_id),
                       unique_key => 'token_refresh:' || t.integration_id)
FROM mcp.v_tokens_expiring_soon t
WHERE t.has_refresh_token;
