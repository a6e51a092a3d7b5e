-- +goose Up
-- The planner: at most one live follow-up per thread, the reason behind each
-- thread's current decision (for `outreach agenda`), and per-contact policy.

-- Never more than one follow-up proposed or sent per thread: a thread holds at
-- most one draft that is waiting, approved, on its way or sent. A rejected,
-- superseded, expired or failed draft is history and does not count.
CREATE UNIQUE INDEX drafts_one_live_followup ON drafts (thread_id)
    WHERE kind = 'followup' AND state IN ('proposed', 'approved', 'sending', 'retry', 'review', 'sent');

-- The last decision about a thread, in words: which rule, and why.
ALTER TABLE threads ADD COLUMN decision_rule text NOT NULL DEFAULT '';
ALTER TABLE threads ADD COLUMN decision_evidence text NOT NULL DEFAULT '';
ALTER TABLE threads ADD COLUMN decided_at timestamptz;
ALTER TABLE threads ADD COLUMN warning text NOT NULL DEFAULT '';

-- Per-contact changes to the [policy] section: the same keys, as JSON.
ALTER TABLE contacts ADD COLUMN policy jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(policy) = 'object');

-- A pause the applicant starts without a date lasts until they resume it:
-- paused_until is the end of a dated pause, and only a paused thread has one.
ALTER TABLE threads DROP CONSTRAINT threads_paused_until;
ALTER TABLE threads ADD CONSTRAINT threads_paused_until CHECK (state = 'paused' OR paused_until IS NULL);

-- +goose Down
ALTER TABLE threads DROP CONSTRAINT threads_paused_until;
ALTER TABLE threads ADD CONSTRAINT threads_paused_until CHECK ((state = 'paused') = (paused_until IS NOT NULL));
ALTER TABLE contacts DROP COLUMN policy;
ALTER TABLE threads DROP COLUMN warning;
ALTER TABLE threads DROP COLUMN decided_at;
ALTER TABLE threads DROP COLUMN decision_evidence;
ALTER TABLE threads DROP COLUMN decision_rule;
DROP INDEX drafts_one_live_followup;
