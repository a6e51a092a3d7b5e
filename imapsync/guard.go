package imapsync

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// errServerClosed is what a read returns once the server has closed the
// connection.
var errServerClosed = fmt.Errorf("the server closed the connection: %w", io.ErrUnexpectedEOF)

// guardConn is the connection as go-imap v2 beta.8 reads it. It keeps the
// library's literal handling safe when the connection ends in the middle of
// a literal (a server that dies or drops us while sending a message):
//
//   - beta.8 takes io.EOF from the connection for the end of the literal,
//     so its reader goroutine goes on decoding from the shared bufio.Reader
//     while the goroutine draining the literal reads it again (a data race,
//     and a truncated literal that looks complete). Here the server's EOF
//     is io.ErrUnexpectedEOF: an error, which leaves the literal open, and
//     the reader stops at once ("cannot decode while a literal is open").
//   - a read error is sticky: every later read returns it, so nothing
//     after a failure can read bytes that belong to another response.
//
// A clean close therefore also ends with io.ErrUnexpectedEOF; Conn.Close
// treats that as the normal end after LOGOUT. The guard must sit on top of
// TLS (crypto/tls would turn the error back into io.EOF at a record
// boundary), which is why STARTTLS is done here and not by go-imap.
type guardConn struct {
	net.Conn

	mu  sync.Mutex
	err error
}

func (g *guardConn) Read(b []byte) (int, error) {
	g.mu.Lock()
	err := g.err
	g.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := g.Conn.Read(b)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		err = errServerClosed
	}
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	err = g.err
	g.mu.Unlock()
	return n, err
}
