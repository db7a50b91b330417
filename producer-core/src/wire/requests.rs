//! ApiVersions, Metadata and InitProducerId: requests the producer sends besides Produce.
