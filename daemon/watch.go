package daemon

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/outreach/outreach/imapsync"
)

// WatchOptions tune Watch; zero values take the defaults in brackets.
type WatchOptions struct {
	SafetyInterval time.Duration // a pass over every mailbox [5m]
	SentInterval   time.Duration // a pass over Sent [2m]
	PollInterval   time.Duration // a pass over INBOX when the server has no IDLE [60s]
	IdleReissue    time.Duration // IDLE is re-issued this often, under the 29-minute limit [25m]
	MaxBackoff     time.Duration // the longest wait before reconnecting [5m]
	// SentKick asks for a pass over Sent now (after a send).
	SentKick <-chan struct{}
	// Passed, when set, is told after every successful pass (tests wait on it).
	Passed func(PassSummary)
}

func (o *WatchOptions) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&o.SafetyInterval, 5*time.Minute)
	set(&o.SentInterval, 2*time.Minute)
	set(&o.PollInterval, time.Minute)
	set(&o.IdleReissue, 25*time.Minute)
	set(&o.MaxBackoff, 5*time.Minute)
}

// Watch keeps one account in step until ctx ends: a full pass at start; an
// INBOX pass whenever IDLE (RFC 2177, on a connection of its own) reports
// new or expunged mail, or every PollInterval when the server lacks IDLE;
// Sent on a timer and on demand; everything every SafetyInterval. A failure
// marks the account degraded (Pass does) and Watch reconnects after an
// exponential backoff with jitter; other accounts are not affected.
func (s *Syncer) Watch(ctx context.Context, acct Account, opts WatchOptions) error {
	opts.defaults()
	backoff := time.Second
	for {
		err := s.watchOnce(ctx, acct, &opts, &backoff)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := rand.N(backoff) + backoff/2 // jitter: half to one and a half times
		s.logger().Warn("sync connection lost; reconnecting", "account", acct.Name, "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(2*backoff, opts.MaxBackoff)
	}
}

// watchOnce runs one connected session; it returns when the connection or
// a pass fails, or ctx ends.
func (s *Syncer) watchOnce(ctx context.Context, acct Account, opts *WatchOptions, backoff *time.Duration) error {
	conn, err := imapsync.Dial(ctx, acct.IMAP)
	if err != nil {
		return s.fail(ctx, acct, 0, err)
	}
	defer conn.Close()
	pass := func(only ...imapsync.Role) error {
		sum, err := s.Pass(ctx, conn, acct, only)
		if err != nil {
			return err
		}
		*backoff = time.Second
		if sum.Stored > 0 {
			s.logger().Info("synced", "account", acct.Name, "stored", sum.Stored, "took", sum.Duration.Round(time.Millisecond))
		}
		if opts.Passed != nil {
			opts.Passed(sum)
		}
		return nil
	}
	if err := pass(); err != nil {
		return err
	}
	idleCtx, stopIdle := context.WithCancel(ctx)
	defer stopIdle()
	changed, idleErr := s.startIdle(idleCtx, acct, opts.IdleReissue)
	return s.loop(ctx, opts, pass, changed, idleErr)
}

func (s *Syncer) loop(ctx context.Context, opts *WatchOptions, pass func(...imapsync.Role) error,
	changed <-chan struct{}, idleErr <-chan error) error {
	safety := time.NewTicker(opts.SafetyInterval)
	defer safety.Stop()
	sent := time.NewTicker(opts.SentInterval)
	defer sent.Stop()
	var poll <-chan time.Time
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			err = pass(imapsync.RoleInbox)
		case <-poll:
			err = pass(imapsync.RoleInbox)
		case <-opts.SentKick:
			err = pass(imapsync.RoleSent)
		case <-sent.C:
			err = pass(imapsync.RoleSent)
		case <-safety.C:
			err = pass()
		case ierr := <-idleErr:
			if !errors.Is(ierr, imapsync.ErrNoIdle) {
				return ierr
			}
			s.logger().Info("server has no IDLE; polling INBOX", "every", opts.PollInterval)
			t := time.NewTicker(opts.PollInterval)
			defer t.Stop()
			poll, idleErr = t.C, nil
		}
		if err != nil {
			return err
		}
	}
}

// startIdle opens a second connection that waits in IDLE on INBOX. changed
// receives (coalesced) change notices; idleErr receives why IDLE ended.
func (s *Syncer) startIdle(ctx context.Context, acct Account, reissue time.Duration) (<-chan struct{}, <-chan error) {
	changed := make(chan struct{}, 1)
	idleErr := make(chan error, 1)
	go func() {
		conn, err := imapsync.Dial(ctx, acct.IMAP)
		if err != nil {
			idleErr <- err
			return
		}
		defer conn.Close()
		idleErr <- conn.Idle(ctx, "INBOX", reissue, func() {
			select {
			case changed <- struct{}{}:
			default: // a pass is already due: one is enough
			}
		})
	}()
	return changed, idleErr
}
