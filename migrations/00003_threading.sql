-- +goose Up
-- Threading: which messages still wait to be attached to a thread, and the
-- addresses seen answering for a contact (a coordinator, a personal address).
ALTER TABLE messages ADD COLUMN attached_at timestamptz;
ALTER TABLE messages ADD COLUMN thread_rule text NOT NULL DEFAULT '';
-- The queue of messages to attach: relevant (skeleton fetched) and not yet done.
CREATE INDEX messages_unattached ON messages (id) WHERE attached_at IS NULL AND raw IS NOT NULL;

CREATE TABLE contact_related_addresses (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    address     text NOT NULL CHECK (outreach_valid_email(address)),
    message_row bigint REFERENCES messages (id),
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX contact_related_addresses_unique ON contact_related_addresses (contact_id, lower(address));
