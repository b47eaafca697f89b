// <arpa/inet.h> on Windows: byte order and address conversion come from Winsock.
#pragma once
#include <winsock2.h>
#include <ws2tcpip.h>
