package imapsync

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// defaultReissue re-issues IDLE well before the 29-minute inactivity limit
// of RFC 2177 section 3.
const defaultReissue = 25 * time.Minute

// Idle selects mailbox read-only (EXAMINE, RFC 3501 section 6.3.2) and waits
// in IDLE (RFC 2177). Whenever the server announces new or expunged
// messages (EXISTS, EXPUNGE) it calls notify from a goroutine of its own;
// notify must not block. IDLE is re-issued every reissue (0: 25 minutes).
// Idle returns ctx.Err() when ctx ends, the connection error when the
// connection fails, and ErrNoIdle at once when the server lacks IDLE.
//
// notify is also called once right after the EXAMINE: messages delivered
// between the caller's last Sync and the EXAMINE are not announced by the
// server, so the caller's pass on that first notice closes the gap.
func (c *Conn) Idle(ctx context.Context, mailbox string, reissue time.Duration, notify func()) error {
	if !c.caps.Has(imap.CapIdle) {
		return ErrNoIdle
	}
	if reissue <= 0 {
		reissue = defaultReissue
	}
	if _, err := c.selectMailbox(ctx, mailbox, true); err != nil {
		return err
	}
	c.drainChanges()
	notify()
	stop := make(chan struct{})
	defer close(stop)
	go c.forwardChanges(stop, notify)
	for {
		if err := c.idleOnce(ctx, mailbox, reissue); err != nil {
			return err
		}
	}
}

// drainChanges forgets change signals from before IDLE (e.g. from Sync).
func (c *Conn) drainChanges() {
	select {
	case <-c.changes:
	default:
	}
}

// forwardChanges calls notify for every change signal until stop closes.
func (c *Conn) forwardChanges(stop <-chan struct{}, notify func()) {
	for {
		select {
		case <-stop:
			return
		case <-c.changes:
			notify()
		}
	}
}

// idleOnce runs one IDLE command until reissue passes (then returns nil),
// ctx ends or the connection fails.
func (c *Conn) idleOnce(ctx context.Context, mailbox string, reissue time.Duration) error {
	var cmd *imapclient.IdleCommand
	err := c.run(ctx, "IDLE on "+mailbox, func() error {
		var err error
		cmd, err = c.client.Idle()
		return err
	})
	if err != nil {
		return err
	}
	t := time.NewTimer(reissue)
	defer t.Stop()
	select {
	case <-t.C:
		return c.endIdle(ctx, cmd, mailbox)
	case <-ctx.Done():
		_ = c.endIdle(context.Background(), cmd, mailbox)
		return ctx.Err()
	case <-c.client.Closed():
		err := cmd.Wait()
		return fmt.Errorf("imapsync: IDLE on %s: connection closed: %v", mailbox, err)
	}
}

// endIdle sends DONE (RFC 2177 section 3) and waits for the tagged answer.
func (c *Conn) endIdle(ctx context.Context, cmd *imapclient.IdleCommand, mailbox string) error {
	return c.run(ctx, "DONE after IDLE on "+mailbox, func() error {
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	})
}

// Append stores msg in mailbox with \Seen and the given internal date
// (RFC 3501 section 6.3.11) and returns its UID when the server reports it
// (APPENDUID, RFC 4315 section 3); 0 otherwise.
func (c *Conn) Append(ctx context.Context, mailbox string, msg []byte, date time.Time) (uint32, error) {
	var data *imap.AppendData
	err := c.run(ctx, "APPEND to "+mailbox, func() error {
		cmd := c.client.Append(mailbox, int64(len(msg)), &imap.AppendOptions{
			Flags: []imap.Flag{imap.FlagSeen}, Time: date})
		if _, err := cmd.Write(msg); err != nil {
			cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		var err error
		data, err = cmd.Wait()
		return err
	})
	if err != nil {
		return 0, err
	}
	return uint32(data.UID), nil
}
