package imapsync

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// startTLSTag tags our one STARTTLS command.
const startTLSTag = "T1"

// maxPreTLSLine bounds a line the server sends before TLS is up.
const maxPreTLSLine = 16 << 10

// startTLS reads the greeting, runs STARTTLS (RFC 9051 section 6.2.1) and
// completes the TLS handshake on raw, before any IMAP client exists, so that
// guardConn can sit on top of TLS. It returns the TLS connection and the
// untagged greeting line to replay to the client: capabilities known before
// TLS are not, so the greeting keeps its text and drops its response code.
func startTLS(ctx context.Context, raw net.Conn, cfg *tls.Config, timeout time.Duration) (net.Conn, string, error) {
	if err := raw.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, "", err
	}
	br := bufio.NewReaderSize(raw, maxPreTLSLine)
	greeting, err := readPreTLSLine(br)
	if err != nil {
		return nil, "", fmt.Errorf("greeting: %w", err)
	}
	switch status, text := splitStatus(strings.TrimPrefix(greeting, "* ")); {
	case !strings.HasPrefix(greeting, "* "):
		return nil, "", fmt.Errorf("greeting: not an untagged response: %q", greeting)
	case status == "PREAUTH":
		// Already authenticated in plain text, where STARTTLS is not allowed.
		return nil, "", fmt.Errorf("the server greets with PREAUTH, so STARTTLS is impossible; refusing to go on in plain text")
	case status != "OK":
		return nil, "", fmt.Errorf("the server refuses the connection: %s", greeting)
	default:
		greeting = "* OK " + dropResponseCode(text)
	}
	if _, err := raw.Write([]byte(startTLSTag + " STARTTLS\r\n")); err != nil {
		return nil, "", err
	}
	for {
		line, err := readPreTLSLine(br)
		if err != nil {
			return nil, "", err
		}
		tag, rest, _ := strings.Cut(line, " ")
		if tag != startTLSTag {
			continue // untagged data (RFC 9051 section 7)
		}
		if status, _ := splitStatus(rest); status != "OK" {
			return nil, "", fmt.Errorf("the server refuses STARTTLS: %s", rest)
		}
		break
	}
	// Nothing may come between the OK and the handshake: bytes already
	// buffered here were sent in plain text and would be read as if they
	// came over TLS (the STARTTLS injection of CVE-2011-0411).
	if br.Buffered() > 0 {
		return nil, "", errors.New("the server sent data after its STARTTLS answer, before TLS; refusing it")
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, "", fmt.Errorf("tls handshake: %w", err)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, "", err
	}
	return tc, greeting, nil
}

// readPreTLSLine reads one CRLF-terminated line without its line end.
func readPreTLSLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("a line of over %d bytes before TLS", maxPreTLSLine)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// splitStatus splits "OK [CODE] text" into its status word, upper-cased,
// and the rest.
func splitStatus(s string) (status, rest string) {
	status, rest, _ = strings.Cut(s, " ")
	return strings.ToUpper(status), rest
}

// dropResponseCode removes a leading "[...]" response code from text.
func dropResponseCode(text string) string {
	if strings.HasPrefix(text, "[") {
		if _, after, ok := strings.Cut(text, "]"); ok {
			text = strings.TrimSpace(after)
		}
	}
	if text == "" {
		text = "ready"
	}
	return text
}

// replayConn serves pending before reading from its connection: the
// greeting already read during STARTTLS, for the IMAP client to read again.
type replayConn struct {
	net.Conn
	pending []byte
}

func (r *replayConn) Read(b []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(b, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(b)
}
