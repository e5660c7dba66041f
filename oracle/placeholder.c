/* oracle module placeholder: keeps the library non-empty. */
int oracle_module_placeholder_;
