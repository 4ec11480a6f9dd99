/*
 * test_record.c - the record API of <crmsync/record.h>: each setter writes the member its getter reads,
 * refuses a bad argument without touching the record, and the stolen json_t is the record's afterwards.
 */
#include <crmsync/record.h>

#include "check.h"

static cs_record *contact(void)
{
    return cs_record_new("contacts", "c-1", CS_OP_UPSERT, json_pack("{s:s}", "email", "a@example.org"), 1000);
}

static void test_new_and_getters(void)
{
    cs_record *rec = contact();
    CHECK(cs_record_is_valid(rec));
    CHECK_STR(cs_record_stream(rec), "contacts");
    CHECK_STR(cs_record_key(rec), "c-1");
    CHECK_INT(cs_record_op(rec), CS_OP_UPSERT);
    CHECK_STR(json_string_value(json_object_get(cs_record_payload(rec), "email")), "a@example.org");
    CHECK_INT(cs_record_ts(rec), 1000);
    CHECK(!cs_record_is_initial(rec));
    CHECK(cs_record_links(rec) == NULL);
    json_decref(rec);
    CHECK(cs_record_new(NULL, "k", CS_OP_UPSERT, NULL, 0) == NULL);
    CHECK(cs_record_new("s", "k", CS_OP_INVALID, json_object(), 0) == NULL);
}

static void test_set_stream(void)
{
    cs_record *rec = contact();
    CHECK_INT(cs_record_set_stream(rec, "accounts"), 0);
    CHECK_STR(cs_record_stream(rec), "accounts");
    CHECK_INT(cs_record_set_stream(rec, NULL), -1);
    CHECK_INT(cs_record_set_stream(rec, "\xff not UTF-8"), -1);
    CHECK_STR(cs_record_stream(rec), "accounts");
    json_decref(rec);
}

static void test_set_key(void)
{
    cs_record *rec = contact();
    CHECK_INT(cs_record_set_key(rec, "c-2"), 0);
    CHECK_STR(cs_record_key(rec), "c-2");
    CHECK_INT(cs_record_set_key(rec, NULL), -1);
    CHECK_STR(cs_record_key(rec), "c-2");
    CHECK_INT(cs_record_set_key(NULL, "c-3"), -1);
    json_decref(rec);
}

static void test_set_op(void)
{
    cs_record *rec = contact();
    CHECK_INT(cs_record_set_op(rec, CS_OP_DELETE), 0);
    CHECK_INT(cs_record_op(rec), CS_OP_DELETE);
    CHECK_STR(json_string_value(json_object_get(rec, "op")), "delete");
    CHECK_INT(cs_record_set_op(rec, CS_OP_UPSERT), 0);
    CHECK_STR(json_string_value(json_object_get(rec, "op")), "upsert");
    CHECK_INT(cs_record_set_op(rec, CS_OP_INVALID), -1);
    CHECK_INT(cs_record_op(rec), CS_OP_UPSERT);
    json_decref(rec);
}

static void test_set_payload(void)
{
    cs_record *rec = contact();
    json_t *payload = json_pack("{s:i}", "n", 7);
    CHECK_INT(cs_record_set_payload(rec, payload), 0);
    CHECK(cs_record_payload(rec) == payload); /* stolen: the record holds this very object */
    CHECK_INT(payload->refcount, 1);
    json_decref(rec);
}

static void test_set_ts(void)
{
    cs_record *rec = contact();
    CHECK_INT(cs_record_set_ts(rec, INT64_C(1764763200123)), 0);
    CHECK_INT(cs_record_ts(rec), INT64_C(1764763200123));
    CHECK(json_is_integer(json_object_get(rec, "ts")));
    json_decref(rec);
}

static void test_set_initial(void)
{
    cs_record *rec = contact();
    CHECK_INT(cs_record_set_initial(rec, 1), 0);
    CHECK(cs_record_is_initial(rec));
    CHECK(json_is_true(json_object_get(rec, "initial")));
    CHECK_INT(cs_record_set_initial(rec, 0), 0);
    CHECK(!cs_record_is_initial(rec));
    CHECK(json_object_get(rec, "initial") == NULL); /* the mark is removed, not set false */
    CHECK_INT(cs_record_set_initial(rec, 0), 0);    /* removing an absent mark is no error */
    json_decref(rec);
}

static void test_set_links(void)
{
    cs_record *rec = contact();
    json_t *links = json_pack("{s:s, s:n}", "account", "a-9", "owner"), *list = json_array();
    CHECK_INT(cs_record_set_links(rec, links), 0);
    CHECK(cs_record_links(rec) == links);
    CHECK_INT(links->refcount, 1);
    CHECK_STR(json_string_value(json_object_get(cs_record_links(rec), "account")), "a-9");
    CHECK(json_is_null(json_object_get(cs_record_links(rec), "owner")));
    json_incref(list);
    CHECK_INT(cs_record_set_links(rec, list), -1); /* not an object: refused, and still stolen */
    CHECK_INT(list->refcount, 1);
    json_decref(list);
    CHECK(cs_record_links(rec) == links);
    CHECK_INT(cs_record_set_links(rec, NULL), -1);
    CHECK(cs_record_is_valid(rec));
    json_decref(rec);
}

int main(void)
{
    test_new_and_getters();
    test_set_stream();
    test_set_key();
    test_set_op();
    test_set_payload();
    test_set_ts();
    test_set_initial();
    test_set_links();
    return check_exit();
}
