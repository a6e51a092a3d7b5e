package daemon

// batchWriter stores a pass's batches on a goroutine of their own, so that
// the database side of one batch (encoding, the COPY and its commit)
// overlaps the work on the next (FETCH, header parsing, phase 2,
// classification).
//
// At most one batch is in flight: submit first waits for the previous
// batch's transaction to end. Batches therefore commit in the order they
// were fetched, each with its cursor in one transaction, so a crash still
// resumes after the last batch committed, with no gap and no duplicate; and
// memory holds only the batch being stored and the one being fetched.
//
// A batchWriter belongs to the goroutine that runs the pass: submit, wait
// and holds are called from it alone (the relevance look-up of the next
// batch runs there too, before that batch is submitted).
type batchWriter struct {
	done chan error
	busy bool
	// mailbox is the mailbox row of the batch in flight, failed that of the
	// batch that failed, err its error: once a batch fails, nothing more is
	// stored in this pass.
	mailbox, failed int64
	err             error
	// ids are the Message-IDs of the batch in flight, which relevance counts
	// as held: the batch before it would have been committed by then had the
	// pass stored its batches one after the other.
	ids map[string]bool
}

func newBatchWriter() *batchWriter {
	return &batchWriter{done: make(chan error, 1)}
}

// submit waits for the batch in flight, then starts store for a batch of
// mailbox holding the given Message-IDs. It returns the error of an earlier
// batch, in which case store is not run.
func (w *batchWriter) submit(mailbox int64, ids map[string]bool, store func() error) error {
	if err := w.wait(); err != nil {
		return err
	}
	w.busy, w.mailbox, w.ids = true, mailbox, ids
	go func() { w.done <- store() }()
	return nil
}

// wait waits for the batch in flight, if any, and returns the first error
// of the pass.
func (w *batchWriter) wait() error {
	if w.busy {
		if err := <-w.done; err != nil && w.err == nil {
			w.err, w.failed = err, w.mailbox
		}
		w.busy, w.ids = false, nil
	}
	return w.err
}

// holds reports whether the batch in flight has a message with this
// Message-ID.
func (w *batchWriter) holds(id string) bool {
	return w.ids[id]
}
