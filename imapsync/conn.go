// Package imapsync owns everything IMAP for Outreach: connecting and
// authenticating (RFC 3501, RFC 9051), discovering the INBOX and the Sent
// mailbox (RFC 6154), incremental fetching by UID ranges with cursors
// (RFC 3501 section 2.3.1.1, RFC 7162 CONDSTORE), waiting in IDLE
// (RFC 2177) and APPEND (RFC 4315 UIDPLUS).
//
// It returns messages and cursors and stores nothing: the caller persists a
// Batch and its Cursor in one transaction. It must not import the store, the
// daemon or any policy package.
//
// A Conn is not safe for concurrent use by several goroutines: run one
// operation at a time. After any error from Sync, Idle or Append, close the
// Conn and dial a new one: the connection may have been torn down.
package imapsync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-sasl"
)

// Default timeouts used when Account leaves them zero.
const (
	defaultDialTimeout    = 15 * time.Second
	defaultCommandTimeout = 60 * time.Second
)

// ErrAuth reports that the server rejected the credentials (RFC 3501 section
// 6.2.3 NO, RFC 5530 AUTHENTICATIONFAILED): retrying will not help.
var ErrAuth = errors.New("imapsync: authentication failed")

// ErrNoIdle reports that the server does not advertise IDLE (RFC 2177).
var ErrNoIdle = errors.New("imapsync: server does not support IDLE")

// Account is how to reach one IMAP server. Password is already resolved.
type Account struct {
	Host                        string
	Port                        int
	Security                    string // "tls", "starttls" or "none"
	Username, Password          string
	TLSConfig                   *tls.Config   // nil: system roots, ServerName = Host
	DialTimeout, CommandTimeout time.Duration // 0: 15s and 60s
	// SkipJunk leaves the Junk mailbox out of Discover.
	SkipJunk bool
}

// Conn is one authenticated IMAP connection.
type Conn struct {
	client     *imapclient.Client
	account    Account
	cmdTimeout time.Duration
	condStore  bool
	caps       imap.CapSet
	strays     *strays
	changes    chan struct{} // signalled (never blocking) on EXISTS and EXPUNGE
	noGuess    bool          // the server refused phase 2's guessed sections (see fillSkeletons)

	mu     sync.Mutex
	broken error // set once the connection was torn down by us
}

// Dial connects (TCP, then TLS or STARTTLS as configured), authenticates
// with AUTHENTICATE PLAIN when advertised (RFC 4616, SASL-IR RFC 4959) or
// else LOGIN, and notes whether CONDSTORE (RFC 7162) is available.
func Dial(ctx context.Context, a Account) (*Conn, error) {
	c := newConn(a)
	raw, err := dialTCP(ctx, c.account)
	if err != nil {
		return nil, err
	}
	if err := c.openClient(ctx, raw); err != nil {
		raw.Close()
		return nil, err
	}
	if err := c.authenticate(ctx); err != nil {
		c.client.Close()
		return nil, err
	}
	if err := c.loadCaps(ctx); err != nil {
		c.client.Close()
		return nil, err
	}
	return c, nil
}

// newConn prepares a Conn with its defaults; no I/O.
func newConn(a Account) *Conn {
	if a.DialTimeout == 0 {
		a.DialTimeout = defaultDialTimeout
	}
	if a.CommandTimeout == 0 {
		a.CommandTimeout = defaultCommandTimeout
	}
	return &Conn{account: a, cmdTimeout: a.CommandTimeout, strays: newStrays(),
		changes: make(chan struct{}, 1)}
}

// address is host:port for the account.
func (a Account) address() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// tlsConfig is the account's TLS configuration with ServerName defaulted.
func (a Account) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if a.TLSConfig != nil {
		cfg = a.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = a.Host
	}
	return cfg
}

// dialTCP opens the TCP connection and, for "tls", completes the handshake.
func dialTCP(ctx context.Context, a Account) (net.Conn, error) {
	switch a.Security {
	case "tls", "starttls", "none":
	default:
		return nil, fmt.Errorf("imapsync: dial %s: unknown security %q (want tls, starttls or none)", a.address(), a.Security)
	}
	dctx, cancel := context.WithTimeout(ctx, a.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(dctx, "tcp", a.address())
	if err != nil {
		return nil, fmt.Errorf("imapsync: dial %s: %w", a.address(), err)
	}
	if a.Security != "tls" {
		return raw, nil
	}
	cfg := a.tlsConfig()
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"imap"} // RFC 9051 section 16.1 ALPN id
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(dctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("imapsync: tls handshake with %s: %w", a.address(), err)
	}
	return tc, nil
}

// openClient wraps raw in an IMAP client, after STARTTLS when configured,
// and waits for the greeting (RFC 3501 section 7.1). The client reads
// through guardConn (see there).
func (c *Conn) openClient(ctx context.Context, raw net.Conn) error {
	opts := &imapclient.Options{
		TLSConfig:             c.account.tlsConfig(),
		UnilateralDataHandler: c.unilateralHandler(),
		WordDecoder:           &mime.WordDecoder{CharsetReader: charset.Reader},
	}
	conn := raw
	if c.account.Security == "starttls" {
		err := withTimeout(ctx, c.cmdTimeout, raw, "starttls with "+c.account.address(), func() error {
			tc, greeting, err := startTLS(ctx, raw, c.account.tlsConfig(), c.cmdTimeout)
			if err == nil {
				conn = &replayConn{Conn: tc, pending: []byte(greeting + "\r\n")}
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	c.client = imapclient.New(&guardConn{Conn: conn}, opts)
	return c.run(ctx, "greeting from "+c.account.address(), c.client.WaitGreeting)
}

// unilateralHandler routes unsolicited data: FETCH data to the strays
// collector, EXISTS and EXPUNGE to the change signal. These run on or next
// to the library's reader goroutine, so they never call the client.
func (c *Conn) unilateralHandler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Expunge: func(uint32) { c.signalChange() },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				c.signalChange()
			}
		},
		Fetch: c.strays.collect,
	}
}

// signalChange records that the mailbox changed, without blocking.
func (c *Conn) signalChange() {
	select {
	case c.changes <- struct{}{}:
	default:
	}
}

// authenticate uses AUTHENTICATE PLAIN when the server advertises AUTH=PLAIN
// (RFC 3501 section 6.2.2), else LOGIN (section 6.2.3).
func (c *Conn) authenticate(ctx context.Context) error {
	var caps imap.CapSet
	if err := c.run(ctx, "capability", func() error { caps = c.client.Caps(); return nil }); err != nil {
		return err
	}
	a := c.account
	var err error
	switch {
	case caps.Has(imap.AuthCap(sasl.Plain)):
		err = c.run(ctx, "authenticate plain", func() error {
			return c.client.Authenticate(sasl.NewPlainClient("", a.Username, a.Password))
		})
	case caps.Has(imap.CapLoginDisabled):
		return fmt.Errorf("imapsync: login to %s: server disables LOGIN and offers no AUTH=PLAIN", a.address())
	default:
		err = c.run(ctx, "login", func() error { return c.client.Login(a.Username, a.Password).Wait() })
	}
	if err != nil && isAuthFailure(err) {
		return fmt.Errorf("imapsync: login to %s as %q: %w: %w", a.address(), a.Username, ErrAuth, err)
	}
	return err
}

// isAuthFailure tells a credentials rejection (NO, RFC 3501 section 6.2.3)
// from a temporary refusal (RFC 5530 UNAVAILABLE and friends).
func isAuthFailure(err error) bool {
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo {
		return false
	}
	switch ierr.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeServerBug, imap.ResponseCodeInUse, imap.ResponseCodeLimit:
		return false
	}
	return true
}

// loadCaps reads the post-authentication capabilities (they may change after
// login, RFC 3501 section 7.2.1).
func (c *Conn) loadCaps(ctx context.Context) error {
	err := c.run(ctx, "capability after login", func() error {
		c.caps = c.client.Caps()
		if c.caps == nil {
			return errors.New("no CAPABILITY response")
		}
		return nil
	})
	// RFC 7162 section 3.1: CONDSTORE is enabled by the first SELECT
	// (CONDSTORE); see Sync. go-imap beta.8 refuses ENABLE CONDSTORE.
	c.condStore = c.caps.Has(imap.CapCondStore)
	return err
}

// CondStore reports whether the server supports CONDSTORE (RFC 7162), in
// which case Sync uses HIGHESTMODSEQ to detect flag-only changes.
func (c *Conn) CondStore() bool { return c.condStore }

// Close sends LOGOUT (RFC 3501 section 6.1.3) and closes the connection.
// After a completed LOGOUT, how the connection then ends does not matter.
func (c *Conn) Close() error {
	if c.brokenErr() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.cmdTimeout)
		err := c.run(ctx, "logout", func() error { return c.client.Logout().Wait() })
		cancel()
		if err == nil {
			c.client.Close()
			return nil
		}
	}
	err := c.client.Close()
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// abort tears the connection down so that every pending command fails; used
// on timeouts and cancellation.
func (c *Conn) abort(cause error) {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = cause
	}
	c.mu.Unlock()
	c.client.Close()
}

// brokenErr is the reason the connection was aborted, or nil.
func (c *Conn) brokenErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// run calls fn (which blocks on the network) and gives up when ctx ends or
// CommandTimeout passes, tearing the connection down.
func (c *Conn) run(ctx context.Context, what string, fn func() error) error {
	if err := c.brokenErr(); err != nil {
		return fmt.Errorf("imapsync: %s: connection unusable: %w", what, err)
	}
	return withTimeout(ctx, c.cmdTimeout, closerFunc(func() error {
		c.abort(fmt.Errorf("%s interrupted", what))
		return nil
	}), what, fn)
}

// closerFunc adapts a function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// withTimeout runs fn in a goroutine; if ctx ends or d passes first it
// closes closer (which must make fn return) and reports why.
func withTimeout(ctx context.Context, d time.Duration, closer io.Closer, what string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("imapsync: %s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		closer.Close()
		<-done
		return fmt.Errorf("imapsync: %s: %w", what, ctx.Err())
	case <-t.C:
		closer.Close()
		<-done
		return fmt.Errorf("imapsync: %s: no answer within %s: %w", what, d, context.DeadlineExceeded)
	}
}
