-- +goose Up
-- Skeletons caught up. A message that did not matter when it was synced is
-- stored without its skeleton (raw IS NULL). It comes to matter later when
-- a contact is added with its address, or when our own email it replies to
-- is synced after it (INBOX is synced before Sent, and a message another
-- client sent turns up in Sent later); the sync then fetches its skeleton.
--
-- contacts_gen counts changes to contact addresses (the trigger below, in
-- the same transaction as the change); skeletons_gen is the count the last
-- complete catch-up of the account saw. A catch-up is due while they differ.
ALTER TABLE accounts ADD COLUMN contacts_gen bigint NOT NULL DEFAULT 1,
    ADD COLUMN skeletons_gen bigint NOT NULL DEFAULT 0;
-- Accounts that synced before this migration catch up once; a new account
-- has nothing to catch up: its first sync judges its mail with the
-- contacts of the day.
ALTER TABLE accounts ALTER COLUMN skeletons_gen SET DEFAULT 1;

-- The server had no skeleton for the message (it went between the sync and
-- the catch-up, or answered without a BODYSTRUCTURE): not asked again.
ALTER TABLE messages ADD COLUMN skeleton_missing boolean NOT NULL DEFAULT false;

-- +goose StatementBegin
CREATE FUNCTION contact_addresses_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET contacts_gen = contacts_gen + 1;
    -- The daemon listens (store.NoticeContacts) and runs a pass now.
    PERFORM pg_notify('outreach_contacts', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER contact_addresses_changed AFTER INSERT OR UPDATE OF address ON contact_addresses
    FOR EACH STATEMENT EXECUTE FUNCTION contact_addresses_changed();

-- +goose Down
DROP TRIGGER contact_addresses_changed ON contact_addresses;
DROP FUNCTION contact_addresses_changed();
ALTER TABLE messages DROP COLUMN skeleton_missing;
ALTER TABLE accounts DROP COLUMN contacts_gen, DROP COLUMN skeletons_gen;
