-- +goose Up
-- A message's skeleton (raw, 3-16 KiB) is compressed with lz4 rather than
-- pglz: storing a batch costs about half the CPU in PostgreSQL (an initial
-- sync of 20,000 messages spent ~230 ms of its ~1.2 s COPY time in pglz).
-- A server built without lz4 keeps pglz: nothing else depends on it.
-- +goose StatementBegin
DO $$
BEGIN
	ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'this PostgreSQL has no lz4; message skeletons stay compressed with pglz';
END $$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION default;
