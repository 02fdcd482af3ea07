"""The raw folder's format, shared by the stages that write it and those that read it:
where images and caption files are (`layout`), which image names are valid (`names`), the
custom captions file (`captions_file`), the WebDataset index and its tar members
(`webdataset`)."""
