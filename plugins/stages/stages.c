/*
 * stages.c - stages.so, the built-in mapping stages: filter, replace, map, convert. A mapping lists
 * them in the order they run, e.g. stages: [{name: filter, ...}, {name: replace, ...},
 * {name: map, ...}, {name: convert, ...}]. Each keeps only its validated options: instances are
 * independent and the core may call different instances from different threads.
 */
#include "stages.h"

static const cs_stage *const stages[] = {&stages_filter, &stages_replace, &stages_map, &stages_convert, NULL};

static const cs_plugin plugin = {
    CS_HEAD(cs_plugin),
    .name = "stages",
    .version = "1.0",
    .stages = stages,
};

CS_PLUGIN_ENTRY(plugin)
