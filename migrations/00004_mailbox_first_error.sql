-- +goose Up
-- A mailbox can fail before its first pass completes (a SELECT refused, a
-- connection dropped): degraded needs a reason, not a completed pass.
ALTER TABLE mailboxes DROP CONSTRAINT mailboxes_synced_has_pass;
ALTER TABLE mailboxes ADD CONSTRAINT mailboxes_synced_has_pass
    CHECK (state IN ('new', 'degraded') OR last_pass_at IS NOT NULL);

-- +goose Down
ALTER TABLE mailboxes DROP CONSTRAINT mailboxes_synced_has_pass;
ALTER TABLE mailboxes ADD CONSTRAINT mailboxes_synced_has_pass
    CHECK (state = 'new' OR last_pass_at IS NOT NULL);
