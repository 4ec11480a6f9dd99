/*
 * test_backoff.c - full-jitter backoff: every delay within [0, min(cap, base * 2^(attempt-1))], the
 * ceiling reached and not exceeded, Retry-After honoured as a floor, and the jitter actually varies.
 */
#include "util/backoff.h"
#include "check.h"

int main(void)
{
    int64_t max_seen[8] = {0}, min_seen[8];
    for (int a = 0; a < 8; a++)
        min_seen[a] = INT64_MAX;
    for (int i = 0; i < 20000; i++) {
        for (int attempt = 1; attempt <= 7; attempt++) {
            int64_t d = cs_backoff_delay(100, 1000, attempt, 0);
            int64_t ceiling = attempt == 1 ? 100 : attempt == 2 ? 200 : attempt == 3 ? 400 : attempt == 4 ? 800 : 1000;
            if (d < 0 || d > ceiling) {
                CHECK_INT(d, ceiling);
                break;
            }
            if (d > max_seen[attempt])
                max_seen[attempt] = d;
            if (d < min_seen[attempt])
                min_seen[attempt] = d;
        }
    }
    /* with 20000 draws the extremes come close to both ends of each range */
    CHECK(max_seen[1] >= 95 && min_seen[1] <= 5);
    CHECK(max_seen[4] >= 760 && max_seen[4] <= 800);
    CHECK(max_seen[7] >= 950 && max_seen[7] <= 1000);
    /* Retry-After is a floor */
    for (int i = 0; i < 1000; i++) {
        int64_t d = cs_backoff_delay(10, 50, 1, 5000);
        if (d != 5000) {
            CHECK_INT(d, 5000);
            break;
        }
    }
    /* a huge attempt number neither overflows nor exceeds the cap */
    for (int i = 0; i < 1000; i++) {
        int64_t d = cs_backoff_delay(1000, 1800000, 1000, 0);
        if (d < 0 || d > 1800000) {
            CHECK_INT(d, 1800000);
            break;
        }
    }
    return check_exit();
}
