/* miner module placeholder: keeps the library non-empty. */
int miner_module_placeholder_;
