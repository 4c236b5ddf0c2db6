/*  fuzz_envelope - libFuzzer target for the envelope codec

    Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iruntime
           tests/fuzz_envelope.c runtime/envelope.c $(pkg-config --cflags --libs
           libczmq msgpack jansson libsodium)
    Any input must decode to NULL or to an envelope that encodes and decodes
    again to the same fields, and the broker's envelope_peek must agree with
    the decode on every input the decode accepts; anything else (a crash, a
    leak, an assert) is a finding. check.sh runs it for a bounded time with a seed corpus. */
#include "envelope.h"

#include <assert.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  The broker's header-only peek must never read out of bounds, and
    //  must agree with the full decode on what it reads.
    bool retryable = false;
    int64_t deadline = 0;
    char cid [ENVELOPE_MAX_STRING + 1] = "";
    int kind = envelope_peek (data, size, &retryable, &deadline, cid, sizeof cid);
    envelope_t *envelope = envelope_decode (data, size, NULL);
    if (!envelope)
        return 0;
    assert (kind == (int) envelope->kind);
    assert (retryable == envelope->retryable);
    assert (deadline == envelope->deadline);
    assert (streq (cid, envelope->cid));
    zframe_t *frame = envelope_encode (envelope);
    if (frame) {
        envelope_t *again = envelope_decode (zframe_data (frame), zframe_size (frame), NULL);
        assert (again);
        assert (again->kind == envelope->kind);
        assert (again->status == envelope->status);
        assert (streq (again->cid, envelope->cid));
        assert (again->deadline == envelope->deadline);
        assert ((again->body == NULL) == (envelope->body == NULL));
        if (again->body)
            assert (json_equal (again->body, envelope->body));
        envelope_destroy (&again);
        zframe_destroy (&frame);
    }
    envelope_destroy (&envelope);
    return 0;
}
