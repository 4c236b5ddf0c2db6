/*  =========================================================================
    envelope - the message that travels between Comptoir processes

    Why it is built this way: msgpack-c allocates a container's elements
    before it reads them, so a four-byte header that claims four billion
    entries would ask for tens of gigabytes. Before msgpack-c sees a frame
    we walk it once (s_scan) and refuse any container or string whose
    declared size cannot fit in the bytes that are left, any nesting deeper
    than ENVELOPE_MAX_DEPTH, and trailing garbage. Only then do we unpack,
    and every field is checked for its type and range as it is copied out.
    =========================================================================
*/
#include "envelope.h"

#include <msgpack.h>
#include <sodium.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Read a big-endian unsigned integer of n bytes.

static uint64_t
s_read_be (const byte *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p [i];
    return v;
}

//  --------------------------------------------------------------------------
//  Check one msgpack element starting at data [*pos]. Advances *pos past it.
//  Returns 0 when the element is well formed and fits, -1 otherwise.

static int
s_scan (const byte *data, size_t size, size_t *pos, int depth)
{
    if (depth > ENVELOPE_MAX_DEPTH + 2)
        return -1;
    if (*pos >= size)
        return -1;
    byte tag = data [(*pos)++];
    size_t left = size - *pos;
    uint64_t payload = 0;       //  bytes of raw payload to skip
    uint64_t children = 0;      //  elements to scan next
    int len_bytes = 0;

    if (tag <= 0x7f || tag >= 0xe0 || tag == 0xc0 || tag == 0xc2 || tag == 0xc3)
        return 0;
    else
    if ((tag & 0xf0) == 0x80)
        children = 2 * (uint64_t) (tag & 0x0f);
    else
    if ((tag & 0xf0) == 0x90)
        children = tag & 0x0f;
    else
    if ((tag & 0xe0) == 0xa0)
        payload = tag & 0x1f;
    else {
        switch (tag) {
            case 0xc4: case 0xd9: len_bytes = 1; break;                   //  bin8, str8
            case 0xc5: case 0xda: len_bytes = 2; break;                   //  bin16, str16
            case 0xc6: case 0xdb: len_bytes = 4; break;                   //  bin32, str32
            case 0xc7: len_bytes = 1; payload = 1; break;                 //  ext8 (+type)
            case 0xc8: len_bytes = 2; payload = 1; break;                 //  ext16
            case 0xc9: len_bytes = 4; payload = 1; break;                 //  ext32
            case 0xca: payload = 4; break;
            case 0xcb: payload = 8; break;
            case 0xcc: case 0xd0: payload = 1; break;
            case 0xcd: case 0xd1: payload = 2; break;
            case 0xce: case 0xd2: payload = 4; break;
            case 0xcf: case 0xd3: payload = 8; break;
            case 0xd4: payload = 2; break;
            case 0xd5: payload = 3; break;
            case 0xd6: payload = 5; break;
            case 0xd7: payload = 9; break;
            case 0xd8: payload = 17; break;
            case 0xdc: case 0xde: len_bytes = 2; break;                   //  array16, map16
            case 0xdd: case 0xdf: len_bytes = 4; break;                   //  array32, map32
            default:
                return -1;                                                //  0xc1: never used
        }
        if (len_bytes) {
            if (left < (size_t) len_bytes)
                return -1;
            uint64_t n = s_read_be (data + *pos, len_bytes);
            *pos += (size_t) len_bytes;
            left -= (size_t) len_bytes;
            if (tag == 0xdc || tag == 0xdd)
                children = n;
            else
            if (tag == 0xde || tag == 0xdf)
                children = 2 * n;
            else
                payload += n;
        }
    }
    if (payload > left)
        return -1;
    *pos += (size_t) payload;
    //  Every child needs at least one byte: a count larger than what is left is a lie.
    if (children > size - *pos)
        return -1;
    for (uint64_t i = 0; i < children; i++)
        if (s_scan (data, size, pos, depth + 1))
            return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Fill a random correlation id: 128 bits as 32 hex characters.

static char *
s_new_cid (void)
{
    static bool ready = false;
    if (!ready) {
        if (sodium_init () < 0)
            return NULL;
        ready = true;
    }
    unsigned char raw [16];
    randombytes_buf (raw, sizeof raw);
    char *cid = (char *) malloc (33);
    if (cid)
        sodium_bin2hex (cid, 33, raw, sizeof raw);
    return cid;
}

//  --------------------------------------------------------------------------

int
envelope_set_str (char **field, const char *value)
{
    char *copy = NULL;
    if (value) {
        copy = strdup (value);
        if (!copy)
            return -1;
    }
    free (*field);
    *field = copy;
    return 0;
}

//  --------------------------------------------------------------------------

envelope_t *
envelope_new_request (const char *verb)
{
    assert (verb);
    envelope_t *self = (envelope_t *) zmalloc (sizeof (envelope_t));
    if (!self)
        return NULL;
    self->kind = ENVELOPE_REQUEST;
    self->version = ENVELOPE_VERSION;
    self->verb = strdup (verb);
    self->cid = s_new_cid ();
    if (!self->verb || !self->cid)
        envelope_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

envelope_t *
envelope_new_reply (const envelope_t *request, int status, json_t *body)
{
    envelope_t *self = (envelope_t *) zmalloc (sizeof (envelope_t));
    if (!self) {
        json_decref (body);
        return NULL;
    }
    self->kind = ENVELOPE_REPLY;
    self->version = ENVELOPE_VERSION;
    self->status = status;
    self->body = body;
    if (request) {
        if (envelope_set_str (&self->cid, request->cid)
        ||  envelope_set_str (&self->rid, request->rid)
        ||  envelope_set_str (&self->verb, request->verb))
            envelope_destroy (&self);
    }
    else
        self->cid = strdup ("");
    return self;
}

//  --------------------------------------------------------------------------

envelope_t *
envelope_new_error (const envelope_t *request, int status, const char *code,
                    const char *message, json_t *details)
{
    envelope_t *self = envelope_new_reply (request, status, NULL);
    if (!self) {
        json_decref (details);
        return NULL;
    }
    self->error = json_pack ("{s:s, s:s, s:o}", "code", code ? code : "error",
                             "message", message ? message : "",
                             "details", details ? details : json_array ());
    if (!self->error)
        envelope_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------

envelope_t *
envelope_dup (const envelope_t *self)
{
    assert (self);
    envelope_t *copy = (envelope_t *) zmalloc (sizeof (envelope_t));
    if (!copy)
        return NULL;
    *copy = *self;
    copy->verb = copy->cid = copy->rid = copy->sub = NULL;
    copy->role = copy->consumer = copy->idem_key = NULL;
    copy->body = self->body ? json_deep_copy (self->body) : NULL;
    copy->error = self->error ? json_deep_copy (self->error) : NULL;
    if (envelope_set_str (&copy->verb, self->verb)
    ||  envelope_set_str (&copy->cid, self->cid)
    ||  envelope_set_str (&copy->rid, self->rid)
    ||  envelope_set_str (&copy->sub, self->sub)
    ||  envelope_set_str (&copy->role, self->role)
    ||  envelope_set_str (&copy->consumer, self->consumer)
    ||  envelope_set_str (&copy->idem_key, self->idem_key)
    ||  (self->body && !copy->body) || (self->error && !copy->error))
        envelope_destroy (&copy);
    return copy;
}

//  --------------------------------------------------------------------------

void
envelope_destroy (envelope_t **self_p)
{
    assert (self_p);
    envelope_t *self = *self_p;
    if (self) {
        free (self->verb);
        free (self->cid);
        free (self->rid);
        free (self->sub);
        free (self->role);
        free (self->consumer);
        free (self->idem_key);
        json_decref (self->body);
        json_decref (self->error);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------

static void
s_pack_cstr (msgpack_packer *pk, const char *s)
{
    size_t len = strlen (s);
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, s, len);
}

//  --------------------------------------------------------------------------
//  Pack a jansson value. Returns 0 or -1 (too deep).

static int
s_json_pack (const json_t *value, msgpack_packer *pk, int depth)
{
    if (depth > ENVELOPE_MAX_DEPTH)
        return -1;
    switch (json_typeof (value)) {
        case JSON_OBJECT: {
            msgpack_pack_map (pk, json_object_size (value));
            const char *key;
            json_t *item;
            json_object_foreach ((json_t *) value, key, item) {
                s_pack_cstr (pk, key);
                if (s_json_pack (item, pk, depth + 1))
                    return -1;
            }
            return 0;
        }
        case JSON_ARRAY: {
            msgpack_pack_array (pk, json_array_size (value));
            size_t index;
            json_t *item;
            json_array_foreach (value, index, item)
                if (s_json_pack (item, pk, depth + 1))
                    return -1;
            return 0;
        }
        case JSON_STRING:
            msgpack_pack_str (pk, json_string_length (value));
            msgpack_pack_str_body (pk, json_string_value (value), json_string_length (value));
            return 0;
        case JSON_INTEGER:
            msgpack_pack_int64 (pk, json_integer_value (value));
            return 0;
        case JSON_REAL:
            msgpack_pack_double (pk, json_real_value (value));
            return 0;
        case JSON_TRUE:
            msgpack_pack_true (pk);
            return 0;
        case JSON_FALSE:
            msgpack_pack_false (pk);
            return 0;
        case JSON_NULL:
            msgpack_pack_nil (pk);
            return 0;
    }
    return -1;
}

int
envelope_json_pack (const json_t *value, void *packer)
{
    return s_json_pack (value, (msgpack_packer *) packer, 0);
}

//  --------------------------------------------------------------------------
//  Convert an unpacked msgpack object to jansson. NULL when it holds what
//  JSON cannot (binary, extensions, non-string keys, invalid UTF-8, huge
//  unsigned integers) or nests too deep.

json_t *
envelope_json_unpack (const void *object, int depth)
{
    const msgpack_object *o = (const msgpack_object *) object;
    if (depth > ENVELOPE_MAX_DEPTH)
        return NULL;
    switch (o->type) {
        case MSGPACK_OBJECT_NIL:
            return json_null ();
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (o->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if (o->via.u64 > (uint64_t) INT64_MAX)
                return NULL;
            return json_integer ((json_int_t) o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) o->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return json_real (o->via.f64);
        case MSGPACK_OBJECT_STR:
            return json_stringn (o->via.str.ptr, o->via.str.size);
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t i = 0; array && i < o->via.array.size; i++) {
                json_t *item = envelope_json_unpack (&o->via.array.ptr [i], depth + 1);
                if (!item || json_array_append_new (array, item)) {
                    json_decref (array);
                    return NULL;
                }
            }
            return array;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *map = json_object ();
            for (uint32_t i = 0; map && i < o->via.map.size; i++) {
                const msgpack_object *key = &o->via.map.ptr [i].key;
                if (key->type != MSGPACK_OBJECT_STR
                ||  memchr (key->via.str.ptr, 0, key->via.str.size)) {
                    json_decref (map);
                    return NULL;
                }
                json_t *item = envelope_json_unpack (&o->via.map.ptr [i].val, depth + 1);
                if (!item || json_object_setn_new (map, key->via.str.ptr, key->via.str.size, item)) {
                    json_decref (map);
                    return NULL;
                }
            }
            return map;
        }
        default:
            return NULL;
    }
}

//  --------------------------------------------------------------------------

zframe_t *
envelope_encode (const envelope_t *self)
{
    assert (self);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);

    int fields = 3;     //  v, k, cid
    const char *strings [][2] = {
        { "verb", self->verb }, { "rid", self->rid }, { "sub", self->sub },
        { "role", self->role }, { "cons", self->consumer }, { "ikey", self->idem_key },
    };
    size_t nstrings = sizeof strings / sizeof strings [0];
    for (size_t i = 0; i < nstrings; i++)
        fields += strings [i][1] != NULL;
    fields += self->deadline != 0;
    fields += self->store_id != 0;
    fields += self->retryable;
    fields += self->status != 0;
    fields += self->body != NULL;
    fields += self->error != NULL;

    msgpack_pack_map (&pk, (size_t) fields);
    s_pack_cstr (&pk, "v");
    msgpack_pack_int (&pk, self->version ? self->version : ENVELOPE_VERSION);
    s_pack_cstr (&pk, "k");
    msgpack_pack_int (&pk, (int) self->kind);
    s_pack_cstr (&pk, "cid");
    s_pack_cstr (&pk, self->cid ? self->cid : "");
    for (size_t i = 0; i < nstrings; i++)
        if (strings [i][1]) {
            s_pack_cstr (&pk, strings [i][0]);
            s_pack_cstr (&pk, strings [i][1]);
        }
    if (self->deadline) {
        s_pack_cstr (&pk, "dl");
        msgpack_pack_int64 (&pk, self->deadline);
    }
    if (self->store_id) {
        s_pack_cstr (&pk, "store");
        msgpack_pack_int64 (&pk, self->store_id);
    }
    if (self->retryable) {
        s_pack_cstr (&pk, "retry");
        msgpack_pack_true (&pk);
    }
    if (self->status) {
        s_pack_cstr (&pk, "status");
        msgpack_pack_int (&pk, self->status);
    }
    int rc = 0;
    if (self->body) {
        s_pack_cstr (&pk, "body");
        rc |= s_json_pack (self->body, &pk, 0);
    }
    if (self->error) {
        s_pack_cstr (&pk, "error");
        rc |= s_json_pack (self->error, &pk, 0);
    }
    zframe_t *frame = NULL;
    if (rc == 0 && sbuf.size <= ENVELOPE_MAX_SIZE)
        frame = zframe_new (sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy (&sbuf);
    return frame;
}

//  --------------------------------------------------------------------------
//  Copy a header string field: must be a string, short, without NUL.

static int
s_header_str (const msgpack_object *o, char **field)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > ENVELOPE_MAX_STRING
    ||  memchr (o->via.str.ptr, 0, o->via.str.size))
        return -1;
    free (*field);
    *field = strndup (o->via.str.ptr, o->via.str.size);
    return *field ? 0 : -1;
}

static int
s_header_int (const msgpack_object *o, int64_t *field, int64_t min, int64_t max)
{
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t) INT64_MAX)
            return -1;
        v = (int64_t) o->via.u64;
    }
    else
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        v = o->via.i64;
    else
        return -1;
    if (v < min || v > max)
        return -1;
    *field = v;
    return 0;
}

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    size_t len = strlen (name);
    return key->via.str.size == len && memcmp (key->via.str.ptr, name, len) == 0;
}

//  --------------------------------------------------------------------------
//  Copy the fields of the envelope map into self. Returns a reason or NULL.

static const char *
s_decode_map (envelope_t *self, const msgpack_object *root)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        return "not a map";
    bool have_version = false, have_kind = false;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *key = &root->via.map.ptr [i].key;
        const msgpack_object *val = &root->via.map.ptr [i].val;
        if (key->type != MSGPACK_OBJECT_STR)
            return "bad key";
        int64_t n = 0;
        if (s_key_is (key, "v")) {
            if (s_header_int (val, &n, 1, 1000))
                return "bad type: v";
            self->version = (int) n;
            have_version = true;
        }
        else
        if (s_key_is (key, "k")) {
            if (s_header_int (val, &n, ENVELOPE_REQUEST, ENVELOPE_REPLY))
                return "bad type: k";
            self->kind = (envelope_kind_t) n;
            have_kind = true;
        }
        else
        if (s_key_is (key, "verb")) { if (s_header_str (val, &self->verb)) return "bad type: verb"; }
        else
        if (s_key_is (key, "cid")) { if (s_header_str (val, &self->cid)) return "bad type: cid"; }
        else
        if (s_key_is (key, "rid")) { if (s_header_str (val, &self->rid)) return "bad type: rid"; }
        else
        if (s_key_is (key, "sub")) { if (s_header_str (val, &self->sub)) return "bad type: sub"; }
        else
        if (s_key_is (key, "role")) { if (s_header_str (val, &self->role)) return "bad type: role"; }
        else
        if (s_key_is (key, "cons")) { if (s_header_str (val, &self->consumer)) return "bad type: cons"; }
        else
        if (s_key_is (key, "ikey")) { if (s_header_str (val, &self->idem_key)) return "bad type: ikey"; }
        else
        if (s_key_is (key, "dl")) {
            if (s_header_int (val, &self->deadline, 0, INT64_MAX))
                return "bad type: dl";
        }
        else
        if (s_key_is (key, "store")) {
            if (s_header_int (val, &self->store_id, 0, INT64_MAX))
                return "bad type: store";
        }
        else
        if (s_key_is (key, "retry")) {
            if (val->type != MSGPACK_OBJECT_BOOLEAN)
                return "bad type: retry";
            self->retryable = val->via.boolean;
        }
        else
        if (s_key_is (key, "status")) {
            if (s_header_int (val, &n, 100, 599))
                return "bad type: status";
            self->status = (int) n;
        }
        else
        if (s_key_is (key, "body")) {
            json_decref (self->body);
            self->body = envelope_json_unpack (val, 0);
            if (!self->body)
                return "bad body";
        }
        else
        if (s_key_is (key, "error")) {
            json_decref (self->error);
            self->error = envelope_json_unpack (val, 0);
            if (!self->error || !json_is_object (self->error))
                return "bad error";
        }
        //  Unknown keys are ignored: a newer peer may add fields.
    }
    if (!have_version || !have_kind)
        return "missing v or k";
    if (self->version != ENVELOPE_VERSION)
        return "unsupported version";
    if (!self->cid)
        return "missing cid";
    if (self->kind == ENVELOPE_REQUEST && (!self->verb || !*self->verb))
        return "missing verb";
    if (self->kind == ENVELOPE_REPLY && self->status == 0)
        return "missing status";
    return NULL;
}

//  --------------------------------------------------------------------------

envelope_t *
envelope_decode (const byte *data, size_t size, const char **error)
{
    const char *reason = NULL;
    envelope_t *self = NULL;
    size_t pos = 0;
    if (!data || size == 0)
        reason = "empty";
    else
    if (size > ENVELOPE_MAX_SIZE)
        reason = "too large";
    else
    if (s_scan (data, size, &pos, 0) || pos != size)
        reason = "malformed msgpack";
    else {
        msgpack_unpacked result;
        msgpack_unpacked_init (&result);
        size_t offset = 0;
        if (msgpack_unpack_next (&result, (const char *) data, size, &offset)
            != MSGPACK_UNPACK_SUCCESS)
            reason = "malformed msgpack";
        else {
            self = (envelope_t *) zmalloc (sizeof (envelope_t));
            if (!self)
                reason = "out of memory";
            else
                reason = s_decode_map (self, &result.data);
        }
        msgpack_unpacked_destroy (&result);
    }
    if (reason)
        envelope_destroy (&self);
    if (error)
        *error = reason;
    return self;
}

//  --------------------------------------------------------------------------
//  Peek helpers. They read elements that s_scan has checked, so every
//  length fits in the frame.

//  A string at p: its bytes and length. Returns -1 when p is not a string.
static int
s_peek_str (const byte *p, const byte **ptr, size_t *len)
{
    byte tag = p [0];
    size_t header;
    if ((tag & 0xe0) == 0xa0) {
        *len = tag & 0x1f;
        header = 1;
    }
    else
    if (tag == 0xd9 || tag == 0xda || tag == 0xdb) {
        int len_bytes = tag == 0xd9 ? 1 : tag == 0xda ? 2 : 4;
        *len = (size_t) s_read_be (p + 1, len_bytes);
        header = 1 + (size_t) len_bytes;
    }
    else
        return -1;
    *ptr = p + header;
    return 0;
}

//  A header string as s_header_str accepts it: a string, short, no NUL.
static int
s_peek_header_str (const byte *p, const byte **ptr, size_t *len)
{
    if (s_peek_str (p, ptr, len) || *len > ENVELOPE_MAX_STRING || memchr (*ptr, 0, *len))
        return -1;
    return 0;
}

//  An integer at p, in [min, max], as s_header_int accepts it.
static int
s_peek_int (const byte *p, int64_t *value, int64_t min, int64_t max)
{
    byte tag = p [0];
    int64_t v;
    if (tag <= 0x7f)
        v = tag;
    else
    if (tag >= 0xe0)
        v = (int8_t) tag;
    else {
        switch (tag) {
            case 0xcc: v = p [1]; break;
            case 0xcd: v = (int64_t) s_read_be (p + 1, 2); break;
            case 0xce: v = (int64_t) s_read_be (p + 1, 4); break;
            case 0xcf:
                if (s_read_be (p + 1, 8) > (uint64_t) INT64_MAX)
                    return -1;
                v = (int64_t) s_read_be (p + 1, 8);
                break;
            case 0xd0: v = (int8_t) p [1]; break;
            case 0xd1: v = (int16_t) s_read_be (p + 1, 2); break;
            case 0xd2: v = (int32_t) s_read_be (p + 1, 4); break;
            case 0xd3: v = (int64_t) s_read_be (p + 1, 8); break;
            default: return -1;
        }
    }
    if (v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

//  --------------------------------------------------------------------------
//  Why: a router (the broker) needs three header fields of every request;
//  building the body in jansson to read them cost it more than all its own
//  routing work. This walks the top-level map once, checking every element
//  with s_scan and every header field as s_decode_map does.

int
envelope_peek (const byte *data, size_t size, bool *retryable, int64_t *deadline,
               char *cid, size_t cid_size)
{
    //  One pass: the top-level map's header here, then s_scan checks each
    //  key and value as it would inside a scan of the whole frame.
    if (!data || size == 0 || size > ENVELOPE_MAX_SIZE)
        return -1;
    byte tag = data [0];
    uint64_t pairs;
    size_t pos;
    if ((tag & 0xf0) == 0x80) {
        pairs = tag & 0x0f;
        pos = 1;
    }
    else
    if ((tag == 0xde && size >= 3) || (tag == 0xdf && size >= 5)) {
        pairs = s_read_be (data + 1, tag == 0xde ? 2 : 4);
        pos = tag == 0xde ? 3 : 5;
    }
    else
        return -1;                      //  not a map, or truncated
    if (2 * pairs > size - pos)
        return -1;                      //  more entries than bytes

    int64_t version = 0, kind = 0, status = 0, dl = 0, number = 0;
    bool retry = false;
    const byte *cid_ptr = NULL, *verb_ptr = NULL;
    size_t cid_len = 0, verb_len = 0;
    for (uint64_t index = 0; index < pairs; index++) {
        const byte *key, *value_ptr;
        size_t key_len, value_len;
        size_t key_at = pos;
        if (s_scan (data, size, &pos, 1) || s_peek_str (data + key_at, &key, &key_len))
            return -1;                  //  malformed, or not a string key
        size_t value_at = pos;
        if (s_scan (data, size, &pos, 1))
            return -1;
        const byte *p = data + value_at;
        #define S_KEY_IS(name) (key_len == sizeof (name) - 1 && memcmp (key, name, key_len) == 0)
        if (S_KEY_IS ("v")) {
            if (s_peek_int (p, &version, 1, 1000))
                return -1;
        }
        else
        if (S_KEY_IS ("k")) {
            if (s_peek_int (p, &kind, ENVELOPE_REQUEST, ENVELOPE_REPLY))
                return -1;
        }
        else
        if (S_KEY_IS ("cid")) {
            if (s_peek_header_str (p, &cid_ptr, &cid_len))
                return -1;
        }
        else
        if (S_KEY_IS ("verb")) {
            if (s_peek_header_str (p, &verb_ptr, &verb_len))
                return -1;
        }
        else
        if (S_KEY_IS ("rid") || S_KEY_IS ("sub") || S_KEY_IS ("role") || S_KEY_IS ("cons")
        ||  S_KEY_IS ("ikey")) {
            if (s_peek_header_str (p, &value_ptr, &value_len))
                return -1;
        }
        else
        if (S_KEY_IS ("dl")) {
            if (s_peek_int (p, &dl, 0, INT64_MAX))
                return -1;
        }
        else
        if (S_KEY_IS ("store")) {
            if (s_peek_int (p, &number, 0, INT64_MAX))
                return -1;
        }
        else
        if (S_KEY_IS ("retry")) {
            if (p [0] != 0xc2 && p [0] != 0xc3)
                return -1;
            retry = p [0] == 0xc3;
        }
        else
        if (S_KEY_IS ("status")) {
            if (s_peek_int (p, &status, 100, 599))
                return -1;
        }
        else
        if (S_KEY_IS ("error")) {
            if ((p [0] & 0xf0) != 0x80 && p [0] != 0xde && p [0] != 0xdf)
                return -1;              //  an error is an object
        }
        #undef S_KEY_IS
        //  body and unknown keys: skipped
    }
    if (pos != size)
        return -1;                      //  trailing bytes
    if (version != ENVELOPE_VERSION || kind == 0 || !cid_ptr
    ||  (kind == ENVELOPE_REQUEST && verb_len == 0)
    ||  (kind == ENVELOPE_REPLY && status == 0))
        return -1;
    if (cid) {
        if (cid_len >= cid_size)
            return -1;
        memcpy (cid, cid_ptr, cid_len);
        cid [cid_len] = 0;
    }
    if (retryable)
        *retryable = retry;
    if (deadline)
        *deadline = dl;
    return (int) kind;
}

//  --------------------------------------------------------------------------

bool
envelope_expired (const envelope_t *self, int64_t now_ms)
{
    return self->deadline && now_ms >= self->deadline;
}

//  --------------------------------------------------------------------------
//  Self test

static envelope_t *
s_roundtrip (const envelope_t *e)
{
    zframe_t *f = envelope_encode (e);
    assert (f);
    const char *why = NULL;
    envelope_t *back = envelope_decode (zframe_data (f), zframe_size (f), &why);
    zframe_destroy (&f);
    return back;
}

static void
s_expect_rejected (const byte *data, size_t size, const char *label, bool verbose)
{
    const char *why = NULL;
    envelope_t *e = envelope_decode (data, size, &why);
    if (verbose)
        printf ("  %s: %s\n", label, why ? why : "(accepted)");
    assert (e == NULL);
    assert (why);
}

void
envelope_test (bool verbose)
{
    printf (" * envelope: ");

    //  A request survives the round trip with every field
    envelope_t *req = envelope_new_request ("product.get");
    assert (req);
    assert (strlen (req->cid) == 32);
    envelope_set_str (&req->rid, "rid-1");
    envelope_set_str (&req->sub, "42");
    envelope_set_str (&req->role, "manager");
    envelope_set_str (&req->consumer, "web-store");
    envelope_set_str (&req->idem_key, "k1");
    req->store_id = 3;
    req->deadline = 1790000000000;
    req->retryable = true;
    req->body = json_pack ("{s:{s:s}, s:{s:i, s:f, s:b, s:n, s:[i,s]}}", "params", "id", "7",
                           "data", "qty", 2, "ratio", 0.5, "flag", 1, "none", "list", 1, "é");
    envelope_t *back = s_roundtrip (req);
    assert (back);
    assert (back->kind == ENVELOPE_REQUEST);
    assert (streq (back->verb, "product.get"));
    assert (streq (back->cid, req->cid));
    assert (streq (back->rid, "rid-1"));
    assert (streq (back->sub, "42"));
    assert (streq (back->role, "manager"));
    assert (streq (back->consumer, "web-store"));
    assert (streq (back->idem_key, "k1"));
    assert (back->store_id == 3);
    assert (back->deadline == 1790000000000);
    assert (back->retryable);
    assert (json_equal (back->body, req->body));
    envelope_destroy (&back);

    //  Two requests never share a correlation id
    envelope_t *other = envelope_new_request ("product.get");
    assert (!streq (other->cid, req->cid));
    envelope_destroy (&other);

    //  Deep copy is independent
    envelope_t *copy = envelope_dup (req);
    assert (copy && copy->body != req->body && json_equal (copy->body, req->body));
    envelope_destroy (&copy);

    //  A reply carries the correlation and request ids and the status
    envelope_t *rep = envelope_new_reply (req, 201, json_pack ("{s:i}", "id", 9));
    back = s_roundtrip (rep);
    assert (back && back->kind == ENVELOPE_REPLY && back->status == 201);
    assert (streq (back->cid, req->cid) && streq (back->rid, "rid-1"));
    assert (json_integer_value (json_object_get (back->body, "id")) == 9);
    envelope_destroy (&back);
    envelope_destroy (&rep);

    //  An error reply carries {code, message, details}
    rep = envelope_new_error (req, 404, "not_found", "no such product", NULL);
    back = s_roundtrip (rep);
    assert (back && back->status == 404);
    assert (streq (json_string_value (json_object_get (back->error, "code")), "not_found"));
    assert (json_is_array (json_object_get (back->error, "details")));
    envelope_destroy (&back);
    envelope_destroy (&rep);

    //  Expiry
    assert (envelope_expired (req, 1790000000000));
    assert (!envelope_expired (req, 1789999999999));

    //  Peek reads the retry marker, deadline and cid without the body
    zframe_t *good = envelope_encode (req);
    size_t good_size = zframe_size (good);
    bool peek_retry = false;
    int64_t peek_dl = 0;
    char peek_cid [ENVELOPE_MAX_STRING + 1];
    assert (envelope_peek (zframe_data (good), good_size, &peek_retry, &peek_dl,
                           peek_cid, sizeof peek_cid) == ENVELOPE_REQUEST);
    assert (peek_retry && peek_dl == 1790000000000 && streq (peek_cid, req->cid));
    assert (envelope_peek (zframe_data (good), good_size, NULL, NULL, NULL, 0) == ENVELOPE_REQUEST);
    //  a cid that does not fit the caller's buffer is refused, not cut
    assert (envelope_peek (zframe_data (good), good_size, NULL, NULL, peek_cid, 8) == -1);
    {
        envelope_t *plain = envelope_new_request ("x.y");
        zframe_t *frame = envelope_encode (plain);
        peek_retry = true;
        peek_dl = 5;
        assert (envelope_peek (zframe_data (frame), zframe_size (frame), &peek_retry, &peek_dl,
                               peek_cid, sizeof peek_cid) == ENVELOPE_REQUEST);
        assert (!peek_retry && peek_dl == 0 && streq (peek_cid, plain->cid));
        zframe_destroy (&frame);
        envelope_t *answer = envelope_new_error (plain, 503, "x", "y", NULL);
        frame = envelope_encode (answer);
        assert (envelope_peek (zframe_data (frame), zframe_size (frame), NULL, NULL,
                               peek_cid, sizeof peek_cid) == ENVELOPE_REPLY);
        assert (streq (peek_cid, plain->cid));
        zframe_destroy (&frame);
        envelope_destroy (&answer);
        envelope_destroy (&plain);
    }
    assert (envelope_peek ((const byte *) "hello", 5, NULL, NULL, NULL, 0) == -1);
    assert (envelope_peek (NULL, 0, NULL, NULL, NULL, 0) == -1);
    for (size_t cut = 0; cut < good_size; cut++)
        assert (envelope_peek (zframe_data (good), cut, NULL, NULL, NULL, 0) == -1);
    //  Mutants of a good frame: whatever decode accepts, peek reads the same
    byte *mutant = (byte *) malloc (good_size);
    for (int round = 0; round < 20000; round++) {
        memcpy (mutant, zframe_data (good), good_size);
        for (int flips = 1 + (int) randombytes_uniform (2); flips > 0; flips--)
            mutant [randombytes_uniform ((uint32_t) good_size)] = (byte) randombytes_uniform (256);
        envelope_t *e = envelope_decode (mutant, good_size, NULL);
        int kind = envelope_peek (mutant, good_size, &peek_retry, &peek_dl, peek_cid, sizeof peek_cid);
        if (e)
            assert (kind == (int) e->kind && peek_retry == e->retryable
                    && peek_dl == e->deadline && streq (peek_cid, e->cid));
        envelope_destroy (&e);
    }
    free (mutant);

    //  Hostile input: each is refused with a reason, never a crash
    for (size_t cut = 0; cut < good_size; cut++)
        s_expect_rejected (zframe_data (good), cut, "truncated", false);
    byte *trailing = (byte *) malloc (good_size + 1);
    memcpy (trailing, zframe_data (good), good_size);
    trailing [good_size] = 0xc0;
    s_expect_rejected (trailing, good_size + 1, "trailing byte", verbose);
    free (trailing);
    zframe_destroy (&good);

    const byte huge_array [] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01 };
    s_expect_rejected (huge_array, sizeof huge_array, "array32 of 4 billion", verbose);
    const byte huge_map [] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'v' };
    s_expect_rejected (huge_map, sizeof huge_map, "map32 of 2 billion", verbose);
    const byte huge_str [] = { 0x81, 0xa1, 'v', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x' };
    s_expect_rejected (huge_str, sizeof huge_str, "str32 of 4 GB", verbose);
    const byte never_used [] = { 0xc1 };
    s_expect_rejected (never_used, sizeof never_used, "0xc1", verbose);
    const byte not_map [] = { 0x93, 0x01, 0x02, 0x03 };
    s_expect_rejected (not_map, sizeof not_map, "array at top", verbose);
    const byte no_fields [] = { 0x80 };
    s_expect_rejected (no_fields, sizeof no_fields, "empty map", verbose);
    //  {v: "1", k: 1, cid: "a", verb: "x"}: v has the wrong type
    const byte wrong_type [] = { 0x84, 0xa1, 'v', 0xa1, '1', 0xa1, 'k', 0x01,
                                 0xa3, 'c', 'i', 'd', 0xa1, 'a', 0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x' };
    s_expect_rejected (wrong_type, sizeof wrong_type, "v as string", verbose);
    //  {v: 1, k: 1, cid: "a"}: a request without verb
    const byte no_verb [] = { 0x83, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a' };
    s_expect_rejected (no_verb, sizeof no_verb, "request without verb", verbose);
    //  {v: 1, k: 1, cid: "a", verb: "x", body: bin8(1)}: binary in the body
    const byte bin_body [] = { 0x85, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                               0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x', 0xa4, 'b', 'o', 'd', 'y',
                               0xc4, 0x01, 0x00 };
    s_expect_rejected (bin_body, sizeof bin_body, "binary body", verbose);
    //  body string with invalid UTF-8
    const byte bad_utf8 [] = { 0x85, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                               0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x', 0xa4, 'b', 'o', 'd', 'y',
                               0xa2, 0xc3, 0x28 };
    s_expect_rejected (bad_utf8, sizeof bad_utf8, "invalid UTF-8", verbose);
    //  uint64 above INT64_MAX in the body
    const byte big_uint [] = { 0x85, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                               0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x', 0xa4, 'b', 'o', 'd', 'y',
                               0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    s_expect_rejected (big_uint, sizeof big_uint, "uint64 overflow", verbose);
    //  reply status out of range
    const byte bad_status [] = { 0x84, 0xa1, 'v', 0x01, 0xa1, 'k', 0x02, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                                 0xa6, 's', 't', 'a', 't', 'u', 's', 0xcd, 0x03, 0xe8 };
    s_expect_rejected (bad_status, sizeof bad_status, "status 1000", verbose);
    //  version 2
    const byte version2 [] = { 0x84, 0xa1, 'v', 0x02, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                               0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x' };
    s_expect_rejected (version2, sizeof version2, "version 2", verbose);
    //  Peek refuses what decode refuses for its headers; bodies it does not
    //  convert, so a body JSON cannot hold passes peek (the worker answers 400).
    const byte *refused [] = { huge_array, huge_map, huge_str, never_used, not_map, no_fields,
                               wrong_type, no_verb, bad_status, version2 };
    size_t refused_size [] = { sizeof huge_array, sizeof huge_map, sizeof huge_str,
                               sizeof never_used, sizeof not_map, sizeof no_fields,
                               sizeof wrong_type, sizeof no_verb, sizeof bad_status,
                               sizeof version2 };
    for (size_t index = 0; index < sizeof refused / sizeof refused [0]; index++)
        assert (envelope_peek (refused [index], refused_size [index], NULL, NULL, NULL, 0) == -1);
    assert (envelope_peek (bin_body, sizeof bin_body, NULL, NULL, NULL, 0) == ENVELOPE_REQUEST);
    assert (envelope_peek (bad_utf8, sizeof bad_utf8, NULL, NULL, NULL, 0) == ENVELOPE_REQUEST);
    assert (envelope_peek (big_uint, sizeof big_uint, NULL, NULL, NULL, 0) == ENVELOPE_REQUEST);
    //  {v:1, k:1, cid:"a", verb:"x", retry:1}: retry must be a boolean
    const byte retry_int [] = { 0x85, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                                0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x', 0xa5, 'r', 'e', 't', 'r', 'y', 0x01 };
    s_expect_rejected (retry_int, sizeof retry_int, "retry as integer", verbose);
    assert (envelope_peek (retry_int, sizeof retry_int, NULL, NULL, NULL, 0) == -1);
    //  {v:1, k:1, cid:"a", verb:"x", dl:-1}: a negative deadline
    const byte dl_negative [] = { 0x85, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                                  0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x', 0xa2, 'd', 'l', 0xff };
    s_expect_rejected (dl_negative, sizeof dl_negative, "negative deadline", verbose);
    assert (envelope_peek (dl_negative, sizeof dl_negative, NULL, NULL, NULL, 0) == -1);
    //  the same with dl as uint16 1000 and retry true: both read
    const byte dl_uint16 [] = { 0x86, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                                0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x', 0xa2, 'd', 'l', 0xcd, 0x03, 0xe8,
                                0xa5, 'r', 'e', 't', 'r', 'y', 0xc3 };
    peek_retry = false;
    assert (envelope_peek (dl_uint16, sizeof dl_uint16, &peek_retry, &peek_dl,
                           peek_cid, sizeof peek_cid) == ENVELOPE_REQUEST);
    assert (peek_retry && peek_dl == 1000 && streq (peek_cid, "a"));

    //  Nesting deeper than the limit is refused on both sides
    json_t *deep = json_array ();
    json_t *cursor = deep;
    for (int i = 0; i < ENVELOPE_MAX_DEPTH + 5; i++) {
        json_t *inner = json_array ();
        json_array_append_new (cursor, inner);
        cursor = inner;
    }
    json_decref (req->body);
    req->body = deep;
    zframe_t *f = envelope_encode (req);
    assert (f == NULL);
    byte nested [200];
    size_t n = 0;
    nested [n++] = 0x85;
    const byte head [] = { 0xa1, 'v', 0x01, 0xa1, 'k', 0x01, 0xa3, 'c', 'i', 'd', 0xa1, 'a',
                           0xa4, 'v', 'e', 'r', 'b', 0xa1, 'x', 0xa4, 'b', 'o', 'd', 'y' };
    memcpy (nested + n, head, sizeof head);
    n += sizeof head;
    for (int i = 0; i < 100; i++)
        nested [n++] = 0x91;
    nested [n++] = 0xc0;
    s_expect_rejected (nested, n, "100 levels deep", verbose);

    //  Random garbage never crashes the decoder
    unsigned char noise [64];
    for (int round = 0; round < 20000; round++) {
        size_t len = 1 + randombytes_uniform (sizeof noise);
        randombytes_buf (noise, len);
        envelope_t *e = envelope_decode (noise, len, NULL);
        //  whatever decode accepts, peek accepts with the same fields
        int kind = envelope_peek (noise, len, &peek_retry, &peek_dl, peek_cid, sizeof peek_cid);
        if (e)
            assert (kind == (int) e->kind && peek_retry == e->retryable
                    && peek_dl == e->deadline && streq (peek_cid, e->cid));
        envelope_destroy (&e);
    }
    envelope_destroy (&req);
    printf ("OK\n");
}
