/*
 * shared.h - the process-wide registry behind cs_host.connection_shared: objects that the connector
 * instances of one connection share (a token, metadata, an in-flight limit), each made once by the
 * first holder that asks and released a minute after its last holder let go (a workflow restarted in
 * the meantime takes it again). Thread-safe.
 */
#ifndef CS_SHARED_H
#define CS_SHARED_H

/* One live shared object; a holder keeps a pointer to it until cs_shared_drop(). */
struct cs_shared;

/* The object registered under `key` for one more holder: the live one, or make(arg) when there is none
 * (made outside the registry's lock; a concurrent caller of the same key waits for it instead of
 * making a second). NULL when make() returned NULL: nothing is registered then. *entry receives the
 * holder's handle (NULL with a NULL object). */
void *cs_shared_take(const char *key, void *(*make)(void *arg), void (*release)(void *obj), void *arg,
                     struct cs_shared **entry);
/* One holder lets go. After the last one the object lingers a minute for a new holder; then a later
 * take or drop runs release(obj) (outside the registry's lock). */
void cs_shared_drop(struct cs_shared *entry);
/* Release every object nobody holds now: before the plugins whose code made them are unloaded. */
void cs_shared_flush(void);
/* The key an entry is registered under (borrowed). */
const char *cs_shared_key(const struct cs_shared *entry);
/* The entry's object. */
void *cs_shared_object(const struct cs_shared *entry);

#endif
