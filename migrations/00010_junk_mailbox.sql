-- +goose Up
-- The Junk mailbox is synced too (role junk, one per account like inbox and
-- sent): a reply a spam filter misfiled is still a reply.
ALTER TABLE mailboxes DROP CONSTRAINT mailboxes_role_check;
ALTER TABLE mailboxes ADD CONSTRAINT mailboxes_role_check CHECK (role IN ('inbox', 'sent', 'junk', 'extra'));
DROP INDEX mailboxes_one_role;
CREATE UNIQUE INDEX mailboxes_one_role ON mailboxes (account_id, role) WHERE role IN ('inbox', 'sent', 'junk');

-- +goose Down
UPDATE mailboxes SET role = 'extra' WHERE role = 'junk';
DROP INDEX mailboxes_one_role;
CREATE UNIQUE INDEX mailboxes_one_role ON mailboxes (account_id, role) WHERE role IN ('inbox', 'sent');
ALTER TABLE mailboxes DROP CONSTRAINT mailboxes_role_check;
ALTER TABLE mailboxes ADD CONSTRAINT mailboxes_role_check CHECK (role IN ('inbox', 'sent', 'extra'));
