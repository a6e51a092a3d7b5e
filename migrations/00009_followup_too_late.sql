-- +goose Up
-- A follow-up not proposed by the time a draft proposed on time would have
-- expired is too late (rules.Decide rule 11): the thread closes without a
-- follow-up, from awaiting_reply or followup_due.
INSERT INTO thread_transitions (from_state, to_state) VALUES
    ('awaiting_reply', 'closed_no_response'), ('followup_due', 'closed_no_response');

-- +goose Down
DELETE FROM thread_transitions WHERE to_state = 'closed_no_response'
    AND from_state IN ('awaiting_reply', 'followup_due');
