-- +goose Up
-- Mailbox sync: the skeleton of messages that matter (headers plus the parts
-- classification reads), so reclassification never needs the server.
ALTER TABLE messages ADD COLUMN raw bytea;
ALTER TABLE messages ADD COLUMN message_key text NOT NULL DEFAULT '';
-- A rescan after a UIDVALIDITY change finds what we already hold by
-- Message-ID (or, lacking one, by date, sender, subject and size).
CREATE INDEX messages_mailbox_key ON messages (mailbox_id, message_key) WHERE message_key <> '';
ALTER TABLE mailboxes ADD COLUMN last_error_at timestamptz;
ALTER TABLE accounts ADD COLUMN last_error_at timestamptz;
