/*
 * fuzz_config.c - libFuzzer harness over the configuration reader and its checks: the input is read as
 * a configuration file (YAML or JSON: the reader, the schema with its positions, the mapping checks),
 * and each of its workflows is checked again as a definition the admin API would be given. Nothing may
 * crash, leak or read out of bounds; refusals are expected. Built and run by tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cs_config *cfg = NULL;
    char path[64], *err = NULL;
    int fd = memfd_create("fuzz.conf", MFD_CLOEXEC);
    json_t *doc, *wf;
    size_t i;

    cs_log_set_level(-1); /* refusals are expected: keep the output for findings */
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (cs_config_load(path, &cfg, &err) == 0)
        cs_config_free(cfg);
    free(err);
    close(fd);

    err = NULL;
    doc = cs_config_parse_text((const char *)data, size, "fuzz", &err);
    free(err);
    json_array_foreach (json_object_get(doc, "workflows"), i, wf) {
        json_t *normalized = NULL;
        err = NULL;
        cs_config_check_workflow(wf, "definition", &normalized, &err);
        json_decref(normalized);
        free(err);
    }
    json_decref(doc);
    return 0;
}
