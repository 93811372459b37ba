-- A run's outcome. A run writes one transaction per batch; its status is 'running' until the
-- last batch and the withdrawal step are committed ('complete'). 'failed': the flow caught an
-- error; a run whose process died stays 'running' with finished NULL. Either way, the batches
-- it committed are whole and the next run simply processes what is missing.
ALTER TABLE raw_runs ADD COLUMN status VARCHAR DEFAULT 'running';
