/*
 * crmsync/record.h - the record: one change to one keyed row, as a jansson object.
 *
 * A record is a plain json_t object with these members:
 *   "stream"  string   the entity set or resource it belongs to ("contacts")
 *   "key"     string   stable idempotency key (the destination's alternate key or id)
 *   "op"      string   "upsert" or "delete"
 *   "payload" object   the row's fields (may be empty for deletes)
 *   "ts"      integer  source timestamp in Unix milliseconds, 0 when the source has none
 *   "initial" boolean  optional: true when the record comes from a full load or a replay rather than
 *                      an incremental change (fields mapped with apply_updates off are written only then)
 *   "links"   object   optional, set by an entity handler: {link name: the key of the linked (parent)
 *                      record at the destination, or null to unlink}; the sink resolves each one to the
 *                      linked record (since ABI 1.2)
 * Members are only ever added, so a record crosses the plugin boundary without any layout to break.
 * The helpers below are static inline and use jansson only: plugins link no core symbol for them; write
 * a member through its setter rather than by name.
 * Ownership follows jansson: accessors return borrowed references; cs_record_new returns a new one;
 * setters copy strings and steal the json_t they are given. Setters return 0, or -1 on a bad argument
 * or out of memory (the record then keeps its old value).
 */
#ifndef CRMSYNC_RECORD_H
#define CRMSYNC_RECORD_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>

typedef json_t cs_record;

typedef enum cs_op { CS_OP_INVALID = 0, CS_OP_UPSERT = 1, CS_OP_DELETE = 2 } cs_op;

/* New record; steals `payload` (NULL means an empty object). Returns NULL on bad arguments or OOM. */
static inline cs_record *cs_record_new(const char *stream, const char *key, cs_op op, json_t *payload, int64_t ts_ms)
{
    json_t *rec;
    if (!stream || !key || (op != CS_OP_UPSERT && op != CS_OP_DELETE)) {
        json_decref(payload);
        return NULL;
    }
    if (!payload)
        payload = json_object();
    rec = json_pack("{s:s, s:s, s:s, s:o, s:I}", "stream", stream, "key", key, "op",
                    op == CS_OP_UPSERT ? "upsert" : "delete", "payload", payload, "ts", (json_int_t)ts_ms);
    return rec;
}

static inline const char *cs_record_stream(const cs_record *rec)
{
    return json_string_value(json_object_get(rec, "stream"));
}

/* Copies `stream` (not NULL). */
static inline int cs_record_set_stream(cs_record *rec, const char *stream)
{
    return json_object_set_new(rec, "stream", json_string(stream));
}

static inline const char *cs_record_key(const cs_record *rec)
{
    return json_string_value(json_object_get(rec, "key"));
}

/* Copies `key` (not NULL). */
static inline int cs_record_set_key(cs_record *rec, const char *key)
{
    return json_object_set_new(rec, "key", json_string(key));
}

static inline cs_op cs_record_op(const cs_record *rec)
{
    const char *op = json_string_value(json_object_get(rec, "op"));
    if (!op)
        return CS_OP_INVALID;
    if (strcmp(op, "upsert") == 0)
        return CS_OP_UPSERT;
    if (strcmp(op, "delete") == 0)
        return CS_OP_DELETE;
    return CS_OP_INVALID;
}

/* CS_OP_UPSERT or CS_OP_DELETE; -1 for CS_OP_INVALID. */
static inline int cs_record_set_op(cs_record *rec, cs_op op)
{
    return json_object_set_new(rec, "op",
                               json_string(op == CS_OP_UPSERT   ? "upsert"
                                           : op == CS_OP_DELETE ? "delete"
                                                                : NULL));
}

/* Borrowed; the record keeps it. Mutate it in place or replace it with cs_record_set_payload. */
static inline json_t *cs_record_payload(const cs_record *rec)
{
    return json_object_get(rec, "payload");
}

/* Steals `payload`. */
static inline int cs_record_set_payload(cs_record *rec, json_t *payload)
{
    return json_object_set_new(rec, "payload", payload);
}

static inline int64_t cs_record_ts(const cs_record *rec)
{
    return (int64_t)json_integer_value(json_object_get(rec, "ts"));
}

/* Source timestamp in Unix milliseconds, 0 when the source has none. */
static inline int cs_record_set_ts(cs_record *rec, int64_t ts_ms)
{
    return json_object_set_new(rec, "ts", json_integer((json_int_t)ts_ms));
}

/* True when the source marked the record as part of a full load or replay. */
static inline int cs_record_is_initial(const cs_record *rec)
{
    return json_is_true(json_object_get(rec, "initial"));
}

/* Nonzero marks the record as part of a full load or replay; zero removes the mark. */
static inline int cs_record_set_initial(cs_record *rec, int initial)
{
    if (!initial)
        return json_object_get(rec, "initial") ? json_object_del(rec, "initial") : 0;
    return json_object_set_new(rec, "initial", json_true());
}

/* Borrowed; NULL when the record links nothing. Mutate it in place or replace it with cs_record_set_links. */
static inline json_t *cs_record_links(const cs_record *rec)
{
    return json_object_get(rec, "links");
}

/* Steals `links`, an object {link name: the linked record's key, or null to unlink}. */
static inline int cs_record_set_links(cs_record *rec, json_t *links)
{
    if (!json_is_object(links)) {
        json_decref(links);
        return -1;
    }
    return json_object_set_new(rec, "links", links);
}

/* A record is well formed when stream and key are non-empty strings, op is known and payload an object. */
static inline int cs_record_is_valid(const cs_record *rec)
{
    const char *stream = cs_record_stream(rec), *key = cs_record_key(rec);
    return json_is_object(rec) && stream && *stream && key && *key && cs_record_op(rec) != CS_OP_INVALID &&
           json_is_object(cs_record_payload(rec));
}

#endif
