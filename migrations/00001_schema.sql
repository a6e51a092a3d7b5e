-- +goose Up
-- The Outreach schema. Invariants live here as constraints and triggers, so
-- that no code path (daemon, CLI, web page, a second daemon) can break them.

-- +goose StatementBegin
CREATE FUNCTION outreach_valid_email(addr text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT addr ~ '^[^@\s<>]+@[^@\s<>]+$'
$$;
-- +goose StatementEnd

-- Accounts: one per applicant mailbox. Connection settings stay in the config
-- file (secrets never reach the database); the row carries identity and health.
CREATE TABLE accounts (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name <> ''),
    email        text NOT NULL CHECK (outreach_valid_email(email)),
    display_name text NOT NULL DEFAULT '',
    timezone     text NOT NULL DEFAULT 'UTC',
    state        text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'degraded')),
    last_error   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT accounts_degraded_has_reason CHECK ((state = 'degraded') = (last_error <> ''))
);

-- Mailboxes and their sync cursor (RFC 3501 UIDVALIDITY/UIDNEXT, RFC 7162
-- HIGHESTMODSEQ). The cursor is written in the same transaction as the
-- message rows of a batch, so a crash resumes exactly where it stopped.
CREATE TABLE mailboxes (
    id             bigserial PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name <> ''),
    role           text NOT NULL CHECK (role IN ('inbox', 'sent', 'extra')),
    uidvalidity    bigint NOT NULL DEFAULT 0 CHECK (uidvalidity BETWEEN 0 AND 4294967295),
    uidnext        bigint NOT NULL DEFAULT 0 CHECK (uidnext BETWEEN 0 AND 4294967296),
    highest_uid    bigint NOT NULL DEFAULT 0 CHECK (highest_uid BETWEEN 0 AND 4294967295),
    highestmodseq  bigint NOT NULL DEFAULT 0 CHECK (highestmodseq >= 0),
    message_count  bigint NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    state          text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'ok', 'degraded')),
    last_error     text NOT NULL DEFAULT '',
    last_pass_at   timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (account_id, name),
    CONSTRAINT mailboxes_degraded_has_reason CHECK ((state = 'degraded') = (last_error <> '')),
    CONSTRAINT mailboxes_synced_has_pass CHECK (state = 'new' OR last_pass_at IS NOT NULL)
);
CREATE UNIQUE INDEX mailboxes_one_role ON mailboxes (account_id, role) WHERE role IN ('inbox', 'sent');

-- Contacts: a person, with one or more addresses (hospital, university,
-- personal). Identity is the person: blocking blocks every address.
CREATE TABLE contacts (
    id           bigserial PRIMARY KEY,
    first_name   text NOT NULL DEFAULT '',
    last_name    text NOT NULL DEFAULT '',
    title        text NOT NULL DEFAULT '',
    institution  text NOT NULL DEFAULT '',
    timezone     text NOT NULL DEFAULT '',
    notes        text NOT NULL DEFAULT '',
    extra        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(extra) = 'object'),
    blocked_at   timestamptz,
    blocked_reason text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT contacts_reason_needs_block CHECK (blocked_at IS NOT NULL OR blocked_reason = '')
);

-- Addresses are unique case-insensitively across all contacts (so also per
-- account): one address, one person. Exactly one primary per contact is kept
-- by the store; at most one is enforced here.
CREATE TABLE contact_addresses (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    address     text NOT NULL CHECK (outreach_valid_email(address)),
    is_primary  boolean NOT NULL DEFAULT false,
    state       text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'undeliverable')),
    state_reason text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX contact_addresses_address ON contact_addresses (lower(address));
CREATE UNIQUE INDEX contact_addresses_one_primary ON contact_addresses (contact_id) WHERE is_primary;
CREATE INDEX contact_addresses_contact ON contact_addresses (contact_id);

-- Threads: one outreach conversation with one contact, from one account.
CREATE TABLE threads (
    id                bigserial PRIMARY KEY,
    account_id        bigint NOT NULL REFERENCES accounts (id),
    contact_id        bigint NOT NULL REFERENCES contacts (id),
    state             text NOT NULL CHECK (state IN (
                          'awaiting_reply', 'followup_due', 'draft_proposed', 'followed_up',
                          'closed_no_response', 'replied', 'bounced', 'paused', 'needs_review',
                          'blocked', 'closed_by_user')),
    subject           text NOT NULL DEFAULT '',
    normalized_subject text NOT NULL DEFAULT '',
    root_message_id   text NOT NULL DEFAULT '',
    initial_sent_at   timestamptz,
    last_inbound_at   timestamptz,
    last_outbound_at  timestamptz,
    followups_sent    integer NOT NULL DEFAULT 0 CHECK (followups_sent BETWEEN 0 AND 1),
    paused_until      timestamptz,
    closed_at         timestamptz,
    closed_reason     text NOT NULL DEFAULT '',
    next_action       text NOT NULL DEFAULT '',
    next_action_at    timestamptz,
    version           integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    -- A conversation that is waiting on us or on them started with our email.
    CONSTRAINT threads_started_by_us CHECK (state NOT IN ('awaiting_reply', 'followup_due',
        'draft_proposed', 'followed_up', 'closed_no_response') OR initial_sent_at IS NOT NULL),
    CONSTRAINT threads_followed_up_counted CHECK (state <> 'followed_up' OR followups_sent = 1),
    CONSTRAINT threads_paused_until CHECK ((state = 'paused') = (paused_until IS NOT NULL)),
    CONSTRAINT threads_closed_at CHECK ((state IN ('closed_no_response', 'closed_by_user')) = (closed_at IS NOT NULL)),
    CONSTRAINT threads_next_action_at CHECK ((next_action = '') = (next_action_at IS NULL))
);
CREATE INDEX threads_contact ON threads (contact_id);
CREATE INDEX threads_next_action ON threads (next_action_at) WHERE next_action_at IS NOT NULL;
CREATE INDEX threads_state ON threads (state);

-- Legal thread transitions: the same table as outreach.ThreadTransitions in
-- Go (a test compares them). A trigger refuses any other change of state.
CREATE TABLE thread_transitions (
    from_state text NOT NULL,
    to_state   text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO thread_transitions (from_state, to_state) VALUES
    ('awaiting_reply', 'followup_due'), ('awaiting_reply', 'followed_up'),
    ('awaiting_reply', 'replied'), ('awaiting_reply', 'bounced'), ('awaiting_reply', 'paused'),
    ('awaiting_reply', 'needs_review'), ('awaiting_reply', 'blocked'),
    ('awaiting_reply', 'closed_by_user'),
    ('followup_due', 'draft_proposed'), ('followup_due', 'followed_up'),
    ('followup_due', 'replied'), ('followup_due', 'bounced'), ('followup_due', 'paused'),
    ('followup_due', 'needs_review'), ('followup_due', 'blocked'),
    ('followup_due', 'closed_by_user'),
    ('draft_proposed', 'followed_up'), ('draft_proposed', 'followup_due'),
    ('draft_proposed', 'replied'), ('draft_proposed', 'bounced'), ('draft_proposed', 'paused'),
    ('draft_proposed', 'needs_review'), ('draft_proposed', 'blocked'),
    ('draft_proposed', 'closed_by_user'), ('draft_proposed', 'closed_no_response'),
    ('followed_up', 'closed_no_response'), ('followed_up', 'replied'),
    ('followed_up', 'bounced'), ('followed_up', 'paused'), ('followed_up', 'needs_review'),
    ('followed_up', 'blocked'), ('followed_up', 'closed_by_user'),
    ('paused', 'awaiting_reply'), ('paused', 'followup_due'), ('paused', 'followed_up'),
    ('paused', 'replied'), ('paused', 'bounced'), ('paused', 'needs_review'),
    ('paused', 'blocked'), ('paused', 'closed_by_user'),
    ('needs_review', 'awaiting_reply'), ('needs_review', 'followup_due'),
    ('needs_review', 'followed_up'), ('needs_review', 'replied'), ('needs_review', 'bounced'),
    ('needs_review', 'paused'), ('needs_review', 'blocked'),
    ('needs_review', 'closed_by_user'), ('needs_review', 'closed_no_response'),
    ('replied', 'needs_review'), ('replied', 'blocked'), ('replied', 'closed_by_user'),
    ('bounced', 'replied'), ('bounced', 'needs_review'), ('bounced', 'blocked'),
    ('bounced', 'closed_by_user'),
    ('closed_no_response', 'replied'), ('closed_no_response', 'bounced'),
    ('closed_no_response', 'needs_review'), ('closed_no_response', 'blocked'),
    ('closed_by_user', 'replied'), ('closed_by_user', 'needs_review'),
    ('closed_by_user', 'blocked'),
    ('blocked', 'closed_by_user');

-- +goose StatementBegin
CREATE FUNCTION threads_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state AND NOT EXISTS (
        SELECT 1 FROM thread_transitions WHERE from_state = OLD.state AND to_state = NEW.state
    ) THEN
        RAISE EXCEPTION 'illegal thread transition % -> % (thread %)', OLD.state, NEW.state, OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'threads_legal_transition';
    END IF;
    IF NEW.followups_sent < OLD.followups_sent THEN
        RAISE EXCEPTION 'followups_sent may not decrease (thread %)', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'threads_followups_monotonic';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER threads_transition BEFORE UPDATE ON threads
    FOR EACH ROW EXECUTE FUNCTION threads_check_transition();

-- Messages: headers and a snippet, never whole bodies. Unique per mailbox,
-- UIDVALIDITY and UID (RFC 3501 section 2.3.1.1); rows outlive an expunge.
CREATE TABLE messages (
    id             bigserial PRIMARY KEY,
    mailbox_id     bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uidvalidity    bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    uid            bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    message_id     text NOT NULL DEFAULT '',
    in_reply_to    text[] NOT NULL DEFAULT '{}',
    refs           text[] NOT NULL DEFAULT '{}',
    from_addr      text NOT NULL DEFAULT '',
    from_name      text NOT NULL DEFAULT '',
    to_addrs       text[] NOT NULL DEFAULT '{}',
    cc_addrs       text[] NOT NULL DEFAULT '{}',
    subject        text NOT NULL DEFAULT '',
    sent_date      timestamptz,
    internal_date  timestamptz,
    size           bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    flags          text[] NOT NULL DEFAULT '{}',
    direction      text NOT NULL CHECK (direction IN ('in', 'out')),
    raw_headers    bytea NOT NULL DEFAULT '',
    snippet        text NOT NULL DEFAULT '',
    parse_error    text NOT NULL DEFAULT '',
    kind           text CHECK (kind IN ('human', 'auto_reply', 'bounce', 'delay', 'receipt',
                                        'complaint', 'list', 'notice')),
    classification jsonb,
    thread_id      bigint REFERENCES threads (id),
    contact_id     bigint REFERENCES contacts (id),
    expunged_at    timestamptz,
    created_at     timestamptz NOT NULL,
    UNIQUE (mailbox_id, uidvalidity, uid),
    CONSTRAINT messages_kind_classified CHECK ((kind IS NULL) = (classification IS NULL))
);
CREATE INDEX messages_message_id ON messages (message_id) WHERE message_id <> '';
CREATE INDEX messages_thread ON messages (thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX messages_contact ON messages (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX messages_from ON messages (lower(from_addr));

-- Drafts: follow-ups waiting for the applicant's approval, then sent exactly
-- once. The version binds an approval to the exact content approved.
CREATE TABLE drafts (
    id               bigserial PRIMARY KEY,
    thread_id        bigint NOT NULL REFERENCES threads (id),
    kind             text NOT NULL DEFAULT 'followup' CHECK (kind IN ('followup')),
    state            text NOT NULL CHECK (state IN (
                         'proposed', 'approved', 'sending', 'sent', 'retry', 'failed',
                         'review', 'rejected', 'superseded', 'expired')),
    version          integer NOT NULL DEFAULT 1 CHECK (version > 0),
    to_addr          text NOT NULL CHECK (outreach_valid_email(to_addr)),
    subject          text NOT NULL,
    body             text NOT NULL,
    in_reply_to      text NOT NULL DEFAULT '',
    refs             text[] NOT NULL DEFAULT '{}',
    message_id       text NOT NULL CHECK (message_id <> ''),
    template         text NOT NULL DEFAULT '',
    approved_version integer,
    approved_at      timestamptz,
    sending_at       timestamptz,
    sent_at          timestamptz,
    smtp_reply       text NOT NULL DEFAULT '',
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    last_error       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- Our own Message-ID, generated before sending, finds the copy in Sent.
    CONSTRAINT drafts_message_id_unique UNIQUE (message_id),
    -- Approval is of one version: approving again after an edit is required.
    CONSTRAINT drafts_approval_pair CHECK ((approved_at IS NULL) = (approved_version IS NULL)),
    CONSTRAINT drafts_approved_this_version CHECK (state NOT IN ('approved', 'sending', 'sent', 'retry', 'review')
        OR (approved_at IS NOT NULL AND approved_version = version)),
    CONSTRAINT drafts_sending_at CHECK (state NOT IN ('sending', 'sent', 'review') OR sending_at IS NOT NULL),
    CONSTRAINT drafts_sent_at CHECK ((state = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT drafts_retry_at CHECK (state <> 'retry' OR next_attempt_at IS NOT NULL)
);
-- The product's promise: at most one follow-up per thread on its way or out.
CREATE UNIQUE INDEX drafts_one_followup_sent ON drafts (thread_id)
    WHERE kind = 'followup' AND state IN ('sending', 'sent');
CREATE INDEX drafts_thread ON drafts (thread_id);
CREATE INDEX drafts_state ON drafts (state);

CREATE TABLE draft_transitions (
    from_state text NOT NULL,
    to_state   text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO draft_transitions (from_state, to_state) VALUES
    ('proposed', 'approved'), ('proposed', 'rejected'), ('proposed', 'superseded'),
    ('proposed', 'expired'),
    ('approved', 'proposed'), ('approved', 'sending'), ('approved', 'rejected'),
    ('approved', 'superseded'),
    ('sending', 'sent'), ('sending', 'retry'), ('sending', 'failed'), ('sending', 'review'),
    ('retry', 'sending'), ('retry', 'superseded'), ('retry', 'failed'),
    ('review', 'sent'), ('review', 'failed');

-- +goose StatementBegin
CREATE FUNCTION drafts_check_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state AND NOT EXISTS (
        SELECT 1 FROM draft_transitions WHERE from_state = OLD.state AND to_state = NEW.state
    ) THEN
        RAISE EXCEPTION 'illegal draft transition % -> % (draft %)', OLD.state, NEW.state, OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'drafts_legal_transition';
    END IF;
    -- What was approved is what is sent: content is frozen once sending starts.
    IF OLD.state IN ('sending', 'sent', 'review', 'failed') AND (
        NEW.body IS DISTINCT FROM OLD.body OR NEW.subject IS DISTINCT FROM OLD.subject OR
        NEW.to_addr IS DISTINCT FROM OLD.to_addr OR NEW.message_id IS DISTINCT FROM OLD.message_id)
    THEN
        RAISE EXCEPTION 'draft % is frozen in state %', OLD.id, OLD.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'drafts_frozen';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER drafts_transition BEFORE UPDATE ON drafts
    FOR EACH ROW EXECUTE FUNCTION drafts_check_transition();

-- Events: the append-only decision log. What happened to a thread, when, why.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    type        text NOT NULL CHECK (type <> ''),
    actor       text NOT NULL CHECK (actor IN ('sync', 'planner', 'mailer', 'user', 'system')),
    thread_id   bigint REFERENCES threads (id),
    draft_id    bigint REFERENCES drafts (id),
    contact_id  bigint REFERENCES contacts (id),
    message_row bigint REFERENCES messages (id),
    from_state  text NOT NULL DEFAULT '',
    to_state    text NOT NULL DEFAULT '',
    rule        text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX events_thread ON events (thread_id, id) WHERE thread_id IS NOT NULL;
CREATE INDEX events_contact ON events (contact_id, id) WHERE contact_id IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'events_append_only';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
