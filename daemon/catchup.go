package daemon

import (
	"context"
	"fmt"
	"slices"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/store"
)

// catchUpBatch is how many skeletons a catch-up asks for at a time.
const catchUpBatch = 500

// catchUp fetches the skeletons of messages stored without one that have
// come to matter since they were synced (see store.WantedSkeletons): after
// contacts changed, those to or from a contact's address; and those that
// refer to our own emails stored with a skeleton in this pass (a reply
// synced from INBOX before our email was synced from Sent). Each skeleton
// fetched may be our own email that others refer to, so it goes on until
// nothing more is wanted. Once the messages have their skeleton, threading
// picks them up as if they had been synced with it.
func (p *pass) catchUp(ctx context.Context, conn *imapsync.Conn) (int, error) {
	gen, err := p.s.Store.SkeletonsDue(ctx, p.acct.ID)
	if err != nil {
		return 0, err
	}
	// Each query finds everything wanted by its criteria, up to the limit;
	// what it fetched matches no more. So the same criteria are asked again
	// only when the limit was reached, and the Message-IDs of our own
	// emails among the skeletons fetched are asked next.
	byContacts, refs, total := gen != 0, slices.Clone(p.ours), 0
	for byContacts || len(refs) > 0 {
		want, err := p.s.Store.WantedSkeletons(ctx, p.acct.ID, byContacts, refs, catchUpBatch)
		if err != nil {
			return total, err
		}
		n, more, err := p.fetchSkeletons(ctx, conn, want)
		total += n
		if err != nil {
			return total, err
		}
		if len(want) < catchUpBatch {
			byContacts, refs = false, more
		} else {
			refs = append(refs, more...)
		}
	}
	if gen != 0 {
		return total, p.s.Store.SkeletonsCaughtUp(ctx, p.acct.ID, gen)
	}
	return total, nil
}

// fetchSkeletons fetches and stores the skeletons of want, mailbox by
// mailbox. It returns how many it stored and the Message-IDs of our own
// emails among them.
func (p *pass) fetchSkeletons(ctx context.Context, conn *imapsync.Conn, want []store.SkeletonWant) (int, []string, error) {
	var got int
	var ours []string
	for len(want) > 0 {
		n := 1
		for n < len(want) && want[n].MailboxID == want[0].MailboxID && want[n].UIDValidity == want[0].UIDValidity {
			n++
		}
		group := want[:n]
		want = want[n:]
		uids := make([]uint32, len(group))
		for i, w := range group {
			uids[i] = w.UID
		}
		msgs, err := conn.Skeletons(ctx, group[0].Mailbox, group[0].UIDValidity, uids)
		if err != nil {
			// Also when UIDVALIDITY changed: the next pass rescans the
			// mailbox first, its rows move to the new UIDVALIDITY and are
			// asked for again.
			return got, ours, fmt.Errorf("catch up skeletons: %w", err)
		}
		var stored []store.Skeleton
		var missing []int64
		for i, m := range msgs {
			if m.Raw == nil {
				missing = append(missing, group[i].ID)
				continue
			}
			msg := classified(m, group[i].UIDValidity, p.acct)
			stored = append(stored, store.Skeleton{ID: group[i].ID, Header: m.Header, Raw: m.Raw,
				ParseError: m.ParseError, Kind: msg.Kind, Classification: msg.Classification})
			if msg.Direction == outreach.Outbound && m.MessageID != "" {
				ours = append(ours, m.MessageID)
			}
		}
		if err := p.s.Store.SaveSkeletons(ctx, stored, missing); err != nil {
			return got, ours, err
		}
		got += len(stored)
	}
	return got, ours, nil
}
