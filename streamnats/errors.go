package streamnats

import "errors"

// ErrNoDeadLetter is wrapped by the error that fails the pipeline when a
// message has used up its delivery budget and the source has no
// [DeadLetter] subject to send it to. The message is left unacknowledged,
// so it is redelivered rather than lost.
var ErrNoDeadLetter = errors.New("streamnats: delivery budget used up and no dead-letter subject")

// ErrRedeliver, returned (or wrapped) by a handler given to [OnError],
// hands the element's message to the redelivery policy (NAK with delay, then
// the dead-letter subject), as if no handler had been given.
var ErrRedeliver = errors.New("streamnats: redeliver")

// ErrNoID is the error of publishing a [Message] with an empty ID: without
// an ID JetStream cannot de-duplicate a retried publish. It is not retried.
var ErrNoID = errors.New("streamnats: message without an ID")

// ErrAck is wrapped by the error that fails the pipeline when acknowledging
// a finished message fails, or NAKing or terminating a failed one
// (typically: the connection is closed). The message stays unacknowledged
// on the server, so it is redelivered.
var ErrAck = errors.New("streamnats: acknowledging a message failed")
