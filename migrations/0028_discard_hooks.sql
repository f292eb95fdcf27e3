-- What a job that failed for good means to the product (`token.refresh_failed`, `sync.failing`,
-- `webhook.subscription_lost` in ops.events) is said by its kind's discard hook, which the
-- engine runs in the transaction that records the job `discarded` (the completer's batch or the
-- rescuer's). The domain trigger that did it on the engine's finished partition goes: the
-- engine's table carries no trigger of the domain.
DROP TRIGGER sync_jobs_failed_for_good ON mcp.sync_jobs_done;
DROP FUNCTION ops.log_job_failed_for_good();
