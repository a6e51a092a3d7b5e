package daemon

import (
	"context"

	"github.com/outreach/outreach/imapsync"
)

// Dialing is an IMAP connection being opened in the background: the TCP
// and TLS handshakes, the greeting and the login (tens of milliseconds even
// on loopback) overlap whatever the caller does meanwhile, such as opening
// the database.
type Dialing struct {
	done chan struct{}
	conn *imapsync.Conn
	err  error
}

// StartDial starts connecting to the account's server.
func StartDial(ctx context.Context, a imapsync.Account) *Dialing {
	d := &Dialing{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		d.conn, d.err = imapsync.Dial(ctx, a)
	}()
	return d
}

// Wait returns the connection once it is open, or why it could not be.
func (d *Dialing) Wait() (*imapsync.Conn, error) {
	<-d.done
	return d.conn, d.err
}

// Discard waits for a dial that will not be used and closes its connection.
func (d *Dialing) Discard() {
	if conn, err := d.Wait(); err == nil {
		conn.Close()
	}
}
