/* floor.c - owns the floor of the ingress benchmark: the irreducible work per record of the path
 * Dataverse -> backlog -> Campaign, done as plainly as C allows, so that bench/ingress.py can show
 * crmsyncd's CPU per record as a multiple of it. Per page of contacts (generated here in the shape the
 * Dataverse emulator answers a change-tracking read with, outside the measured time): parse it with
 * jansson, insert each row into an SQLite backlog in one transaction (WAL, synchronous=FULL, as the
 * daemon's state DB), read the page back, map each row to the Campaign profile body (externalId,
 * firstName, lastName, email, gender, location.city, birthDate) and serialise it with json_dumps, then
 * delete the page from the backlog in one transaction. Prints the CPU time (getrusage, user + system)
 * per record.
 * Usage: floor [records [page size]]   (defaults 100000 and 5000). Built by `make bench-floor`.
 */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *FIRST[] = {"Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo"};
static const char *LAST[] = {"Smith", "Meyer", "Dubois", "Rossi", "Garcia", "Novak", "O'Brien", "Berg"};
static const char *CITY[] = {"Paris", "London", "Berlin", "Madrid", "Rome", "Dublin", "Oslo", "Vienna"};

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "floor: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One change-tracking page of rows [first, first + n) as the emulator's JSON text. */
static char *make_page(long first, long n)
{
    json_t *value = json_array();
    for (long i = first; i < first + n; i++) {
        char id[64], etag[32], email[64], birth[16];
        snprintf(id, sizeof id, "%08lx-0000-4000-8000-%012lx", (unsigned long)i * 2654435761UL % 0xffffffffUL,
                 (unsigned long)i);
        snprintf(etag, sizeof etag, "W/\"%ld\"", 1000 + i);
        snprintf(email, sizeof email, "%s.%s.%ld@example.com", FIRST[i % 8], LAST[(i / 8) % 8], i);
        snprintf(birth, sizeof birth, "%04ld-%02ld-%02ld", 1950 + i % 55, 1 + i % 12, 1 + i % 28);
        json_array_append_new(value,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i}", "@odata.etag", etag,
                                        "contactid", id, "firstname", FIRST[i % 8], "lastname", LAST[(i / 8) % 8],
                                        "emailaddress1", email, "gendercode", (int)(1 + i % 2), "address1_city",
                                        CITY[i % 8], "birthdate", birth, "statecode", 0));
    }
    json_t *page = json_pack(
        "{s:s, s:o, s:s}", "@odata.context",
        "http://127.0.0.1/api/data/v9.2/$metadata#contacts(contactid,firstname,lastname)", "value", value,
        "@odata.nextLink", "http://127.0.0.1/api/data/v9.2/contacts?$skiptoken=%3Ccookie%20pagenumber%3D%222%22%2F%3E");
    char *text = json_dumps(page, JSON_COMPACT);
    json_decref(page);
    return text;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        die(sql, err);
}

/* The Campaign profile body of one backlog payload; -> its serialised size. */
static size_t campaign_body(const char *payload)
{
    json_error_t jerr;
    json_t *row = json_loads(payload, 0, &jerr);
    if (!row)
        die("payload", jerr.text);
    json_int_t gender = json_integer_value(json_object_get(row, "gendercode"));
    const char *birth = json_string_value(json_object_get(row, "birthdate"));
    json_t *body =
        json_pack("{s:O, s:O, s:O, s:O, s:s, s:{s:O}, s:s%}", "externalId", json_object_get(row, "contactid"),
                  "firstName", json_object_get(row, "firstname"), "lastName", json_object_get(row, "lastname"), "email",
                  json_object_get(row, "emailaddress1"), "gender",
                  gender == 1   ? "male"
                  : gender == 2 ? "female"
                                : "unknown",
                  "location", "city", json_object_get(row, "address1_city"), "birthDate", birth ? birth : "",
                  birth ? (size_t)10 : (size_t)0);
    if (!body)
        die("body", "json_pack failed");
    char *text = json_dumps(body, JSON_COMPACT);
    size_t n = strlen(text);
    free(text);
    json_decref(body);
    json_decref(row);
    return n;
}

int main(int argc, char **argv)
{
    long records = argc > 1 ? atol(argv[1]) : 100000, page_size = argc > 2 ? atol(argv[2]) : 5000;
    if (records <= 0 || page_size <= 0)
        die("usage", "floor [records [page size]]");
    char dir[] = "/tmp/crmsync-floor-XXXXXX", path[64];
    if (!mkdtemp(dir))
        die("mkdtemp", dir);
    snprintf(path, sizeof path, "%s/state.db", dir);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("open", sqlite3_errmsg(db));
    exec_sql(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                 "CREATE TABLE backlog (seq INTEGER PRIMARY KEY, stream TEXT NOT NULL, key TEXT NOT NULL,"
                 " op INTEGER NOT NULL, payload TEXT NOT NULL)");
    sqlite3_stmt *ins, *sel, *del;
    if (sqlite3_prepare_v2(db, "INSERT INTO backlog (stream, key, op, payload) VALUES ('contacts', ?, 1, ?)", -1, &ins,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT seq, key, payload FROM backlog ORDER BY seq LIMIT ?", -1, &sel, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM backlog WHERE seq <= ?", -1, &del, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));

    double cpu = 0;
    size_t bytes = 0;
    for (long first = 0; first < records; first += page_size) {
        long n = records - first < page_size ? records - first : page_size;
        char *text = make_page(first, n);
        double t0 = cpu_now();

        json_error_t jerr;
        json_t *page = json_loads(text, 0, &jerr);
        if (!page)
            die("page", jerr.text);
        json_t *rows = json_object_get(page, "value"), *row;
        size_t i;
        exec_sql(db, "BEGIN");
        json_array_foreach (rows, i, row) {
            char *payload = json_dumps(row, JSON_COMPACT);
            sqlite3_bind_text(ins, 1, json_string_value(json_object_get(row, "contactid")), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, payload, -1, free);
            if (sqlite3_step(ins) != SQLITE_DONE)
                die("insert", sqlite3_errmsg(db));
            sqlite3_reset(ins);
        }
        exec_sql(db, "COMMIT");
        json_decref(page);

        sqlite3_bind_int64(sel, 1, n);
        sqlite3_int64 last = 0;
        while (sqlite3_step(sel) == SQLITE_ROW) {
            last = sqlite3_column_int64(sel, 0);
            bytes += campaign_body((const char *)sqlite3_column_text(sel, 2));
        }
        sqlite3_reset(sel);
        exec_sql(db, "BEGIN");
        sqlite3_bind_int64(del, 1, last);
        if (sqlite3_step(del) != SQLITE_DONE)
            die("delete", sqlite3_errmsg(db));
        sqlite3_reset(del);
        exec_sql(db, "COMMIT");

        cpu += cpu_now() - t0;
        free(text);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    sqlite3_close(db);
    char wal[80], shm[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(wal);
    unlink(shm);
    unlink(path);
    rmdir(dir);
    printf("floor: %.1f us/record CPU (%ld records, pages of %ld, %zu body bytes)\n", cpu * 1e6 / (double)records,
           records, page_size, bytes);
    return 0;
}
