-- +goose Up
-- Sending. The exact bytes handed to SMTP are stored in the transaction that
-- moves a draft to sending, before the SMTP transaction starts: the copy
-- appended to Sent, also after a crash, is the message that went out, and
-- its Message-ID is what a restart looks for.
ALTER TABLE drafts ADD COLUMN raw_message bytea;

-- The copy in the Sent mailbox: '' (not sent by the mailer), 'pending' (to
-- be appended), 'done' (appended, or found there), 'provider' (the provider
-- files submissions itself, as Gmail and Microsoft 365 do).
ALTER TABLE drafts ADD COLUMN sent_copy text NOT NULL DEFAULT ''
    CHECK (sent_copy IN ('', 'pending', 'done', 'provider'));
ALTER TABLE drafts ADD CONSTRAINT drafts_copy_of_sent CHECK (sent_copy <> 'pending' OR raw_message IS NOT NULL);

-- What was sent is what is appended: the stored message never changes.
-- +goose StatementBegin
CREATE FUNCTION drafts_raw_message_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.raw_message IS NOT NULL AND NEW.raw_message IS DISTINCT FROM OLD.raw_message THEN
        RAISE EXCEPTION 'draft % has been handed to SMTP: its message is frozen', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'drafts_raw_message_frozen';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER drafts_raw_message BEFORE UPDATE ON drafts
    FOR EACH ROW EXECUTE FUNCTION drafts_raw_message_frozen();

-- The sender's queue: approved follow-ups and retries by due time.
CREATE INDEX drafts_to_send ON drafts (next_attempt_at NULLS FIRST, id) WHERE state IN ('approved', 'retry');

-- +goose Down
DROP INDEX drafts_to_send;
DROP TRIGGER drafts_raw_message ON drafts;
DROP FUNCTION drafts_raw_message_frozen();
ALTER TABLE drafts DROP CONSTRAINT drafts_copy_of_sent;
ALTER TABLE drafts DROP COLUMN sent_copy;
ALTER TABLE drafts DROP COLUMN raw_message;
