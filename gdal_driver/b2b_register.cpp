// Plugin entry point: GDAL calls GDALRegister_B2B() for gdal_B2B.so on GDAL_DRIVER_PATH.
#include "b2b_dataset.hpp"
#include "b2b_driver.hpp"

extern "C" void CPL_DLL GDALRegister_B2B();

void GDALRegister_B2B() {
    if (!GDAL_CHECK_VERSION("B2B driver")) return;
    GDALDriverManager* manager = GetGDALDriverManager();
    if (manager->GetDriverByName(b2b_gdal::driver_name)) return;
    auto* driver = new GDALDriver();
    b2b_gdal::SetDriverMetadata(driver);
    driver->pfnIdentify = b2b_gdal::Identify;
    driver->pfnOpen = b2b_gdal::B2BDataset::Open;
    driver->pfnCreateCopy = b2b_gdal::CreateCopy;
    driver->pfnCreate = b2b_gdal::Create;  // only to say why not
    driver->pfnDelete = b2b_gdal::Delete;
    manager->RegisterDriver(driver);
    // RegisterDriver announces Create() because pfnCreate is set; withdrawn, so that gdalwarp and
    // others take their CreateCopy path, and gdalinfo does not promise it.
    driver->SetMetadataItem(GDAL_DCAP_CREATE, nullptr);
    // GDAL's Zarr driver also claims directories holding zarr.json; registered drivers are tried
    // in order, so move Zarr behind us to make every .b2b form open with B2B.
    if (GDALDriver* zarr = manager->GetDriverByName("Zarr")) {
        manager->DeregisterDriver(zarr);
        manager->RegisterDriver(zarr);
    }
}
