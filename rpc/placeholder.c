/* rpc module placeholder: keeps the library non-empty. */
int rpc_module_placeholder_;
