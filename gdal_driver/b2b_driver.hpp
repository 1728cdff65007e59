// The B2B GDAL driver: entry points shared by the driver's files.
#pragma once

#include "gdal_priv.h"

namespace b2b_gdal {

constexpr const char* driver_name = "B2B";

int Identify(GDALOpenInfo* info);
// NUM_THREADS open/creation option, else GDAL_NUM_THREADS, else all CPUs.
int configured_threads(CSLConstList options);
GDALDataset* CreateCopy(const char* filename, GDALDataset* src, int strict, char** options,
                        GDALProgressFunc progress, void* progress_data);
CPLErr Delete(const char* filename);
// Refuses, naming the way that works: a .b2b is written whole, from a finished source.
GDALDataset* Create(const char* filename, int xsize, int ysize, int nbands, GDALDataType type, char** options);
void SetDriverMetadata(GDALDriver* driver);

}  // namespace b2b_gdal
